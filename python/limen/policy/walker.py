"""The walk of one parse tree: every node of every statement, the classes
it adds and why, the tables it names, the functions it calls.

A ``LANGUAGE sql`` function body given as a string is classified with the
``classify_body`` the walk is given (the classifier's own parse and walk,
one level deeper).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from limen.policy.bounds import Target
from limen.policy.catalog import function_class, is_builtin_operator, tablesample_is_builtin
from limen.policy.classes import (
    ADMIN,
    DDL,
    HARMLESS,
    READ,
    SAFE_SETTINGS,
    UNBOUNDED_WRITE,
    UNKNOWN,
    WRITE,
    Classification,
    StatementInfo,
    most_dangerous,
    unknown_classification,
)
from limen.policy.nodes import ON_VALUES, Node, const_value, names, unwrap
from limen.policy.sealed import Constants
from limen.policy.statements import (
    ADMIN_ALTER_TABLE,
    ADMIN_DROPS,
    ADMIN_RENAMES,
    ADMIN_STATEMENTS,
    BETWEEN_KINDS,
    DDL_STATEMENTS,
    HARMLESS_STATEMENTS,
    READ_STATEMENTS,
    TABLE_OBJECTS,
    TRANSACTION_COMMANDS,
    TWO_PHASE,
    WRITE_STATEMENTS,
    command_name,
    explain_analyze,
)

__all__ = ["BodyClassifier", "walk_tree"]

BodyClassifier = Callable[[str, int], Classification]
"""Classifies a SQL function body's text at a nesting depth."""

_UTF8_NAMES: Final = frozenset({"utf8", "utf-8", "unicode"})
_MAX_BODY_DEPTH: Final = 4
"""Nesting of SQL function bodies parsed inside function bodies."""


def walk_tree(
    tree: object, depth: int, consts: Constants, classify_body: BodyClassifier
) -> Classification:
    """The classification of a parsed (and sealed) query: one statement
    info per statement, the union of their classes and tables."""
    stmts = tree.get("stmts", []) if isinstance(tree, dict) else []
    infos = []
    for raw in stmts:
        node = raw.get("stmt") if isinstance(raw, dict) else None
        if not isinstance(node, dict) or len(node) != 1:
            infos.append(
                unknown_classification("UNKNOWN", "the parser returned no statement").statements[0]
            )
            continue
        ((kind, body),) = node.items()
        walker = _Walker(depth, consts, classify_body)
        infos.append(walker.statement(kind, body if isinstance(body, dict) else {}))
    if not infos:
        empty = frozenset({HARMLESS})
        info = StatementInfo("EMPTY", empty, frozenset(), "an empty query", direct_classes=empty)
        return Classification(empty, frozenset(), (info,))
    classes = frozenset().union(*(i.classes for i in infos))
    tables = frozenset().union(*(i.tables for i in infos))
    error = next((i.why for i in infos if UNKNOWN in i.classes), None)
    return Classification(classes, tables, tuple(infos), error)


class _Walker:
    """Collects the classes of one statement (and everything nested in it)."""

    def __init__(self, depth: int, consts: Constants, classify_body: BodyClassifier) -> None:
        self.depth = depth
        self.consts = consts
        self.classify_body = classify_body
        self.reasons: dict[str, str] = {}
        self.tables: set[str] = set()
        self.ctes: set[str] = set()
        self.targets: set[str] = set()
        self.executes: list[str] = []
        self.functions: set[str] = set()
        self.prepares: str | None = None

    def add(self, klass: str, why: str) -> None:
        self.reasons.setdefault(klass, why)

    def statement(self, kind: str, body: Node) -> StatementInfo:
        command = self.visit_statement(kind, body, top=True, executed=True)
        self.walk(body, executed=self._children_executed(kind, body))
        direct = frozenset(self.reasons)
        classes = direct | ({UNKNOWN} if self.executes else frozenset())
        if not classes:
            classes = direct = frozenset({HARMLESS})
            self.reasons[HARMLESS] = HARMLESS_STATEMENTS.get(
                kind, f"{command} has no effect on data"
            )
        if self.executes:
            self.reasons.setdefault(
                UNKNOWN, "EXECUTE of a prepared statement not seen on this session"
            )
        tables = {t for t in self.tables if t not in self.ctes} | self.targets
        klass = most_dangerous(classes)
        return StatementInfo(
            command=command,
            classes=classes,
            tables=frozenset(tables),
            why=self.reasons.get(klass, ""),
            direct_classes=direct,
            executes=tuple(self.executes),
            prepares=self.prepares,
            functions=frozenset(self.functions),
        )

    @staticmethod
    def _children_executed(kind: str, body: Node) -> bool:
        if kind == "ExplainStmt":
            return explain_analyze(body)
        if kind == "CreateTableAsStmt":
            into = body.get("into", {})
            return not (isinstance(into, dict) and into.get("skipData"))
        return True

    def walk(self, root: object, executed: bool) -> None:
        stack: list[tuple[object, bool]] = [(root, executed)]
        while stack:
            node, run = stack.pop()
            if isinstance(node, list):
                stack.extend((v, run) for v in node if isinstance(v, dict | list))
                continue
            if not isinstance(node, dict):
                continue
            kind, body = unwrap(node)
            if kind:
                run = self.visit(kind, body, run)
                stack.extend((v, run) for v in body.values() if isinstance(v, dict | list))
                continue
            if "relname" in node and "relpersistence" in node:
                self.visit("RangeVar", node, run)
            elif "funcname" in node and "funcformat" in node:
                self.visit("FuncCall", node, run)
            elif "rel" in node and "onCommit" in node and run:
                # an IntoClause (SELECT … INTO), also inside UNION branches
                self.add(DDL, "SELECT … INTO creates a table")
            stack.extend((v, run) for v in node.values() if isinstance(v, dict | list))

    def visit(self, kind: str, body: Node, executed: bool) -> bool:
        """Note one node; return whether its children run now."""
        if kind == "RangeVar":
            name = body.get("relname", "")
            schema = body.get("schemaname")
            self.tables.add(f"{schema}.{name}" if schema else name)
        elif kind == "FuncCall":
            funcname = names(body.get("funcname"))
            klass, why = function_class(funcname)
            if klass is not None:
                self.add(klass, why)
                self.functions.add(".".join(funcname))
        elif kind == "A_Expr":
            if body.get("kind") not in BETWEEN_KINDS:
                self._operator(names(body.get("name")))
        elif kind == "SubLink":
            if body.get("operName"):
                self._operator(names(body.get("operName")))
        elif kind == "SortBy":
            if body.get("useOp"):
                self._operator(names(body.get("useOp")))
        elif kind == "RangeTableSample":
            method = names(body.get("method"))
            if not tablesample_is_builtin(method):
                self.add(WRITE, "TABLESAMPLE with a method limen does not know")
        elif kind == "CommonTableExpr":
            self.ctes.add(str(body.get("ctename", "")))
        elif kind == "LockingClause":
            if executed:
                self.add(WRITE, "SELECT … FOR UPDATE/SHARE locks rows")
        elif kind.endswith("Stmt"):
            if executed:
                self.visit_statement(kind, body, top=False, executed=executed)
            return executed and self._children_executed(kind, body)
        return executed

    def _operator(self, op: tuple[str, ...]) -> None:
        if not is_builtin_operator(op):
            self.add(WRITE, f"uses operator {'.'.join(op)}, which is not built in")

    def visit_statement(self, kind: str, body: Node, *, top: bool, executed: bool) -> str:
        """Add the classes of one statement node itself; return its command."""
        if kind in WRITE_STATEMENTS:
            self.add(WRITE, WRITE_STATEMENTS[kind])
            return self._write(kind, body)
        if kind == "SelectStmt":
            if top:
                self.add(READ, "a query")
            into = body.get("intoClause")
            if isinstance(into, dict):
                self.add(DDL, "SELECT … INTO creates a table")
                return "SELECT INTO"
            return "SELECT"
        if kind in READ_STATEMENTS:
            self.add(READ, READ_STATEMENTS[kind])
            if kind == "FetchStmt" and body.get("ismove"):
                return "MOVE"
            return command_name(kind)
        if kind in HARMLESS_STATEMENTS:
            return command_name(kind)
        if kind == "TransactionStmt":
            tx = str(body.get("kind", ""))
            if tx in TWO_PHASE:
                self.add(ADMIN, f"{TWO_PHASE[tx]} is two-phase commit")
                return TWO_PHASE[tx]
            if tx in TRANSACTION_COMMANDS:
                return TRANSACTION_COMMANDS[tx]
            self.add(UNKNOWN, "a transaction command limen does not know")
            return "TRANSACTION"
        if kind == "VariableSetStmt":
            return self._set(body)
        if kind == "ExplainStmt":
            self.add(READ, "EXPLAIN shows a plan")
            if explain_analyze(body):
                return "EXPLAIN ANALYZE"
            return "EXPLAIN"
        if kind == "CopyStmt":
            return self._copy(body)
        if kind == "PrepareStmt":
            self.prepares = str(body.get("name", ""))
            inner, _ = unwrap(body.get("query"))
            if inner == "SelectStmt":
                self.add(READ, "PREPARE of a query")
            return "PREPARE"
        if kind == "ExecuteStmt":
            self.executes.append(str(body.get("name", "")))
            return "EXECUTE"
        if kind == "ReturnStmt":
            return "RETURN"
        if kind in ADMIN_STATEMENTS:
            command = command_name(kind)
            if kind in ("GrantStmt", "GrantRoleStmt"):
                command = "GRANT" if body.get("is_grant") else "REVOKE"
            elif kind == "VacuumStmt":
                command = "VACUUM" if body.get("is_vacuumcmd") else "ANALYZE"
            self.add(ADMIN, f"{command} is an administrative command")
            return command
        if kind in DDL_STATEMENTS:
            return self._ddl(kind, body)
        self.add(UNKNOWN, f"{command_name(kind)} is a statement type limen does not classify")
        return command_name(kind)

    def _write(self, kind: str, body: Node) -> str:
        command = command_name(kind)
        relation = body.get("relation")
        if isinstance(relation, dict) and relation.get("relname"):
            # a target is always a table, even when a CTE has its name
            schema = relation.get("schemaname")
            name = str(relation["relname"])
            self.targets.add(f"{schema}.{name}" if schema else name)
        if kind == "TruncateStmt":
            self.add(UNBOUNDED_WRITE, "TRUNCATE empties whole tables")
        elif kind in ("UpdateStmt", "DeleteStmt"):
            target = Target(body.get("relation"), self.consts)
            if target.unbounded(body.get("whereClause")):
                self.add(UNBOUNDED_WRITE, f"{command} without a WHERE that restricts its rows")
        elif kind == "MergeStmt":
            target = Target(body.get("relation"), self.consts)
            join_unbounded = target.unbounded(body.get("joinCondition"))
            for clause in body.get("mergeWhenClauses", []):
                _, when = unwrap(clause)
                if when.get("commandType") not in ("CMD_UPDATE", "CMD_DELETE"):
                    continue
                match = when.get("matchKind")
                if (match == "MERGE_WHEN_MATCHED" and join_unbounded) or (
                    match == "MERGE_WHEN_NOT_MATCHED_BY_SOURCE"
                    and target.unbounded(when.get("condition"))
                ):
                    self.add(UNBOUNDED_WRITE, "MERGE that does not restrict the rows it changes")
        return command

    def _set(self, body: Node) -> str:
        setting = str(body.get("name", "")).lower()
        kind = body.get("kind")
        command = "RESET" if kind in ("VAR_RESET", "VAR_RESET_ALL") else "SET"
        if kind == "VAR_RESET_ALL":
            return "RESET ALL"
        text: list[str] = []
        if setting in ("client_encoding", "standard_conforming_strings"):
            values = [const_value(a, self.consts) for a in body.get("args", [])]
            text = [str(v).lower() for v in values if isinstance(v, str | bool | int)]
        if setting == "client_encoding":
            if kind == "VAR_RESET" or (kind == "VAR_SET_VALUE" and text and text[0] in _UTF8_NAMES):
                return command
        elif setting == "standard_conforming_strings":
            if kind == "VAR_RESET" or (kind == "VAR_SET_VALUE" and text and text[0] in ON_VALUES):
                return command
        elif setting in SAFE_SETTINGS:
            return command
        if setting in ("role", "session_authorization"):
            self.add(ADMIN, f"{command} {setting.upper().replace('_', ' ')} changes privileges")
        else:
            self.add(ADMIN, f"{command} of server setting {setting[:63]}")
        return command

    def _copy(self, body: Node) -> str:
        if body.get("is_program"):
            self.add(ADMIN, "COPY with PROGRAM runs a server-side program")
        elif body.get("filename") is not None:
            self.add(ADMIN, "COPY with a file name reads or writes server-side files")
        if body.get("is_from"):
            self.add(WRITE, "COPY … FROM loads data")
            return "COPY FROM"
        self.add(READ, "COPY … TO exports data")
        return "COPY TO"

    def _ddl(self, kind: str, body: Node) -> str:
        command = command_name(kind)
        why = "changes the schema"
        if kind == "DropStmt":
            obj = str(body.get("removeType", "OBJECT_TABLE"))
            command = "DROP " + obj.removeprefix("OBJECT_").replace("_", " ")
            if obj in ADMIN_DROPS:
                self.add(ADMIN, f"{command} is an administrative command")
            if obj in TABLE_OBJECTS:
                for item in body.get("objects", []):
                    dropped = names(unwrap(item)[1].get("items"))
                    if dropped:
                        self.tables.add(".".join(dropped[-2:]))
        elif kind == "RenameStmt":
            command = "ALTER … RENAME"
            if body.get("renameType") in ADMIN_RENAMES:
                self.add(ADMIN, "renames a role, database or tablespace")
        elif kind == "AlterTableStmt":
            command = "ALTER " + str(body.get("objtype", "OBJECT_TABLE")).removeprefix("OBJECT_")
            for cmd in body.get("cmds", []):
                _, inner = unwrap(cmd)
                if inner.get("subtype") in ADMIN_ALTER_TABLE:
                    self.add(ADMIN, "changes a table's owner or row security")
        elif kind == "CreateTableAsStmt":
            matview = body.get("objtype") == "OBJECT_MATVIEW"
            command = "CREATE MATERIALIZED VIEW" if matview else "CREATE TABLE AS"
            why = "creates a table from a query"
        elif kind == "CreateFunctionStmt":
            command = "CREATE PROCEDURE" if body.get("is_procedure") else "CREATE FUNCTION"
            self._function_body(body)
        self.add(DDL, f"{command} {why}")
        return command

    def _function_body(self, body: Node) -> None:
        language = "sql"
        text: str | None = None
        for option in body.get("options", []):
            _, opt = unwrap(option)
            name = opt.get("defname")
            arg = opt.get("arg")
            if name == "language":
                _, value = unwrap(arg)
                language = str(value.get("sval", "")).lower()
            elif name == "as":
                _, items = unwrap(arg)
                parts = names(items.get("items"))
                text = parts[0] if len(parts) == 1 else None
                if len(parts) != 1:
                    language = language if language != "sql" else "c"
        if language != "sql":
            self.add(
                ADMIN, f"a function body in language {language[:63]} is code limen cannot inspect"
            )
            return
        if text is None:
            return  # BEGIN ATOMIC: the body is part of the tree and walked
        if self.depth >= _MAX_BODY_DEPTH:
            self.add(UNKNOWN, "SQL function bodies nested too deeply")
            return
        inner = self.classify_body(text, self.depth + 1)
        for klass in inner.classes - {READ, HARMLESS}:
            why = next((s.why for s in inner.statements if klass in s.classes), "")
            self.add(klass, f"the function body: {why}")
        self.functions |= {f for s in inner.statements for f in s.functions}
