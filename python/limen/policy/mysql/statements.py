"""Classes of one MySQL/MariaDB statement, from its tokens.

The statement's kind is decided by its leading keywords, as in the server's
grammar (sql_yacc.yy: every statement starts with its own keywords); the
queries and writes (``SELECT``, ``WITH``, ``VALUES``, ``TABLE``, ``INSERT``,
``REPLACE``, ``UPDATE``, ``DELETE``, ``DO``) are parsed with sqlglot's MySQL
dialect, and one that does not parse is ``unknown``. Function calls are
found in the tokens of every statement (see :mod:`.functions`). Anything
whose leading keywords are not known here is ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from limen.policy import ADMIN, DDL, HARMLESS, READ, UNBOUNDED_WRITE, UNKNOWN, WRITE
from limen.policy.mysql.functions import ADMIN_FUNCTIONS, HARMLESS_FUNCTIONS, NOT_FUNCTIONS
from limen.policy.mysql.lexer import OP, QIDENT, STRING, VAR, WORD, Token, render
from limen.policy.mysql.settings import set_classes
from limen.policy.mysql.shape import sealed

_DDL_KINDS = frozenset({"TABLE", "VIEW", "INDEX", "DATABASE", "SCHEMA", "SEQUENCE"})
_ADMIN_KINDS = frozenset(
    {"USER", "ROLE", "SERVER", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "TABLESPACE"}
    | {"LOGFILE", "INSTANCE", "PACKAGE", "RESOURCE", "PLUGIN", "SONAME"}
)
_ADMIN_LEADS = frozenset(
    {"KILL", "SHUTDOWN", "FLUSH", "RESET", "PURGE", "CHANGE", "OPTIMIZE", "REPAIR"}
    | {"CHECK", "CHECKSUM", "CACHE", "BINLOG", "CLONE", "RESTART", "IMPORT", "XA", "BACKUP"}
    | {"STOP", "GRANT", "REVOKE", "INSTALL", "UNINSTALL", "HANDLER"}
)
_HARMLESS_LEADS = frozenset(
    {"COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SIGNAL", "RESIGNAL", "DEALLOCATE"}
    | {"UNLOCK", "GET"}
)
_READ_LEADS = frozenset({"SHOW", "HELP"})
_QUERY_LEADS = frozenset({"SELECT", "WITH", "VALUES", "TABLE"})
_STATEMENT_STARTS = frozenset(
    {"SELECT", "WITH", "VALUES", "TABLE", "INSERT", "REPLACE", "UPDATE", "DELETE"}
)
_MODIFIERS = frozenset({"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "QUICK"})
_CLAUSES = frozenset(
    {"FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "FOR", "LOCK", "UNION", "WINDOW"}
)


@dataclass
class Result:
    """What one statement does."""

    command: str
    classes: set[str] = field(default_factory=set)
    why: str = ""
    tables: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    dangers: set[str] = field(default_factory=set)
    databases: set[str] = field(default_factory=set)
    executes: tuple[str, ...] = ()
    prepares: str | None = None
    nested: str | None = None
    """The text of ``PREPARE … FROM 'text'`` / ``EXECUTE IMMEDIATE 'text'``,
    judged by the caller."""
    inner: list[Token] | None = None
    """A statement this one runs (``ANALYZE``, ``EXPLAIN ANALYZE``, ``SET
    STATEMENT … FOR``), judged by the caller."""

    def add(self, klass: str, why: str) -> None:
        self.classes.add(klass)
        if not self.why or klass in (UNKNOWN, ADMIN):
            self.why = why


def _words(tokens: list[Token], n: int) -> list[str]:
    return [t.upper for t in tokens[:n]]


def _scan_functions(tokens: list[Token], res: Result) -> None:
    """Every call in the tokens: ``name (``, quoted or qualified names too.

    In a schema change (``ddl``, which outranks ``write``) ``name (`` is
    mostly a table, index or type with its column list or length: only the
    ``admin`` functions are looked for there.
    """
    schema_change = DDL in res.classes
    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if nxt.kind != OP or nxt.text != "(" or tok.kind not in (WORD, QIDENT, STRING):
            continue
        name = tok.text.lower()
        if tok.kind == STRING and (seal := sealed()) is not None:
            seal.mark("a string names a function")
        if tok.kind == WORD and name in NOT_FUNCTIONS:
            continue
        # A string before "(" is a call under ANSI_QUOTES ("f"(1)): counted.
        qualified = i > 0 and tokens[i - 1].kind == OP and tokens[i - 1].text == "."
        if tok.kind == WORD and not qualified and name in HARMLESS_FUNCTIONS:
            continue
        res.functions.add(name)
        if tok.kind == WORD and not qualified and name in ADMIN_FUNCTIONS:
            res.add(ADMIN, f"calls {name}(), which reaches the server's files or replication")
        elif schema_change:
            res.functions.discard(name)
        else:
            res.add(WRITE, f"calls {name}(), not known to be free of side effects")
    for i in range(len(tokens) - 2):
        if _words(tokens[i:], 3) == ["NEXT", "VALUE", "FOR"]:
            res.add(WRITE, "NEXT VALUE FOR advances a sequence")


def _parse(text: str) -> exp.Expr | None:
    try:
        trees = sqlglot.parse(text, read="mysql", error_level=sqlglot.ErrorLevel.RAISE)
    except Exception:  # sqlglot raises several error types; any is "cannot parse"
        return None
    if len(trees) != 1 or trees[0] is None or isinstance(trees[0], exp.Command):
        return None
    if (seal := sealed()) is not None:
        seal.check_tree(trees[0], text)
    return trees[0]


def _tables(tree: exp.Expr, res: Result) -> None:
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for t in tree.find_all(exp.Table):
        name = t.name
        if not name or (not t.db and name.lower() in ctes):
            continue
        res.tables.add(f"{t.db}.{name}" if t.db else name)


def _has_column(node: exp.Expr) -> bool:
    return any(True for _ in node.find_all(exp.Column))


def _restricts(node: exp.Expr) -> bool:
    """Whether a WHERE condition can restrict the target's rows."""
    if isinstance(node, exp.Paren):
        return _restricts(node.this)
    if isinstance(node, exp.And):
        return _restricts(node.left) or _restricts(node.right)
    if isinstance(node, exp.Or):
        return _restricts(node.left) and _restricts(node.right)
    if isinstance(node, exp.Binary) and (seal := sealed()) is not None:
        seal.alike(node.left, node.right)
    if isinstance(node, exp.Binary) and node.left == node.right:
        return False
    return _has_column(node)


def _strip_modifiers(tokens: list[Token]) -> list[Token]:
    rest = tokens[1:]
    while rest and rest[0].upper in _MODIFIERS:
        rest = rest[1:]
    return [tokens[0], *rest]


def _query(tokens: list[Token], res: Result) -> None:
    kept: list[Token] = []
    depth, skipping = 0, False
    for i, tok in enumerate(tokens):
        if tok.kind == OP and tok.text in "()":
            depth += 1 if tok.text == "(" else -1
        if depth == 0 and tok.upper == "INTO":
            target = tokens[i + 1].upper if i + 1 < len(tokens) else ""
            if target in ("OUTFILE", "DUMPFILE"):
                res.add(ADMIN, f"SELECT … INTO {target} writes a file on the server")
                res.dangers.add("server-file")
            skipping = True
            continue
        if skipping and depth == 0 and tok.upper in _CLAUSES:
            skipping = False
        if not skipping:
            kept.append(tok)
    words = _words(kept, len(kept))
    for i in range(len(words) - 1):
        if (words[i], words[i + 1]) in (("FOR", "UPDATE"), ("FOR", "SHARE"), ("IN", "SHARE")):
            res.add(WRITE, "row locks block other writers")
    res.add(READ, "query")
    tree = _parse(render(kept))
    if tree is None:
        res.add(UNKNOWN, "the query does not parse")
        return
    _tables(tree, res)


def _write(tokens: list[Token], res: Result) -> None:
    tokens = _strip_modifiers(tokens)
    lead = tokens[0].upper
    if lead == "REPLACE":
        tokens = [Token(WORD, "INSERT"), *tokens[1:]]
    res.add(WRITE, f"{lead} changes rows")
    tree = _parse(render(tokens))
    if tree is None:
        res.add(UNKNOWN, f"the {lead} does not parse")
        return
    _tables(tree, res)
    if isinstance(tree, exp.Update | exp.Delete):
        where = tree.args.get("where")
        if where is None or not _restricts(where.this):
            res.add(UNBOUNDED_WRITE, f"{lead} without a WHERE that restricts rows")


def _schema_change(tokens: list[Token], res: Result) -> None:
    lead = tokens[0].upper
    if lead == "DROP" and _words(tokens, 2)[1:] == ["PREPARE"]:
        res.add(HARMLESS, "DROP PREPARE frees a prepared statement")
        return
    kind = next((t.upper for t in tokens[1:] if t.upper in _DDL_KINDS | _ADMIN_KINDS), "")
    res.command = f"{lead} {kind}".strip()
    if any(t.upper == "SONAME" for t in tokens):
        kind = "SONAME"
    if kind in _DDL_KINDS:
        res.add(DDL, f"{res.command} changes the schema")
    elif kind:
        res.add(ADMIN, f"{res.command}: users, roles, stored code or server objects")
        if kind in ("PLUGIN", "SONAME"):
            res.dangers.add("plugin")
    else:
        res.add(UNKNOWN, f"{lead} of an object kind limen does not know")


def _leading(tokens: list[Token], res: Result) -> None:
    w = [*_words(tokens, 4), "", "", "", ""]
    lead = w[0]
    if lead in _QUERY_LEADS or (tokens[0].kind == OP and tokens[0].text == "("):
        res.command = "SELECT"
        _query(tokens, res)
    elif lead in ("INSERT", "REPLACE", "UPDATE", "DELETE"):
        _write(tokens, res)
    elif lead in ("CREATE", "ALTER", "DROP", "RENAME"):
        _schema_change(tokens, res)
    elif lead == "TRUNCATE":
        res.add(WRITE, "TRUNCATE removes every row")
        res.add(UNBOUNDED_WRITE, "TRUNCATE removes every row")
    elif lead == "SET" and (seal := sealed()) is not None:
        seal.mark("SET reads its values")
        res.add(UNKNOWN, "SET is judged by its own text")
    elif lead == "SET" and w[1] == "STATEMENT":
        at = next((i for i, t in enumerate(tokens) if t.upper == "FOR"), len(tokens))
        for klass, why in set_classes([tokens[0], *tokens[2:at]]):
            res.add(klass, why)
        res.inner = tokens[at + 1 :]
    elif lead == "SET":
        for klass, why in set_classes(tokens):
            res.add(klass, why)
        if ADMIN in res.classes and w[1] in ("GLOBAL", "PERSIST", "PERSIST_ONLY"):
            res.dangers.add("set-global")
    elif lead in ("DESCRIBE", "DESC", "EXPLAIN") or (lead == "ANALYZE" and w[1] != "TABLE"):
        res.add(READ, f"{lead} shows a plan or a definition")
        if lead == "ANALYZE" or w[1] == "ANALYZE":
            # Runs its statement: FORMAT=… options first, then the statement.
            k = 1 if lead == "ANALYZE" else 2
            while k < len(tokens) and tokens[k].upper not in _STATEMENT_STARTS:
                k += 1
            res.inner = tokens[k:]
    elif lead == "USE" and len(tokens) == 2 and tokens[1].kind in (WORD, QIDENT):
        res.add(HARMLESS, "USE switches the default database")
        res.databases.add(tokens[1].text)
        res.dangers.add("use")
    elif lead in ("BEGIN", "START") and w[1] in ("", "WORK", "TRANSACTION"):
        res.add(HARMLESS, "transaction control")
    elif lead == "BEGIN" and w[1] == "NOT":
        res.add(ADMIN, "BEGIN NOT ATOMIC runs a compound statement")
    elif lead in _HARMLESS_LEADS:
        res.add(HARMLESS, f"{lead} is session or transaction control")
    elif lead in _READ_LEADS:
        res.add(READ, f"{lead} reads")
    elif lead == "LOCK" and w[1] in ("TABLE", "TABLES"):
        res.add(WRITE, "LOCK TABLES blocks other writers")
    elif lead == "LOAD" and w[1] in ("DATA", "XML"):
        if "LOCAL" in w[1:4] + _words(tokens[3:], 2):
            res.add(WRITE, "LOAD DATA LOCAL inserts a file the client sends")
            res.dangers.add("local-infile")
        else:
            res.add(ADMIN, "LOAD DATA INFILE reads a file on the server")
            res.dangers.add("server-file")
    elif lead == "DO":
        res.add(HARMLESS, "DO evaluates expressions")
        res.dangers.add("do")
        if _parse(render([Token(WORD, "SELECT"), *tokens[1:]])) is None:
            res.add(UNKNOWN, "the DO does not parse")
    elif lead == "CALL":
        res.add(WRITE, "CALL runs a stored procedure")
        res.dangers.add("call")
    elif lead == "PREPARE" and len(tokens) == 4 and w[2] == "FROM":
        if tokens[1].kind not in (WORD, QIDENT) and (seal := sealed()) is not None:
            seal.mark("a constant names a prepared statement")
        res.prepares = tokens[1].text.lower()
        _nested(tokens[3], res, "PREPARE … FROM")
    elif lead == "EXECUTE" and w[1] == "IMMEDIATE" and len(tokens) >= 3:
        _nested(tokens[2], res, "EXECUTE IMMEDIATE")
    elif lead == "EXECUTE" and len(tokens) >= 2 and tokens[1].kind in (WORD, QIDENT):
        res.executes = (tokens[1].text.lower(),)
        res.why = "EXECUTE of a prepared statement: judged by what the session prepared"
    elif lead in _ADMIN_LEADS or (lead == "ANALYZE" and w[1] == "TABLE") or lead == "LOAD":
        res.add(ADMIN, f"{lead} is server administration")
        if lead in ("GRANT", "REVOKE"):
            res.dangers.add("grant")
        elif lead in ("INSTALL", "UNINSTALL"):
            res.dangers.add("plugin")
        elif lead == "HANDLER":
            res.dangers.add("handler")
    else:
        res.add(UNKNOWN, "a statement limen does not know")


def _nested(tok: Token, res: Result, what: str) -> None:
    if tok.kind == STRING and (seal := sealed()) is not None:
        seal.mark(f"{what} a string: its value is code")
    if tok.kind == STRING:
        res.nested = tok.text
    elif tok.kind == VAR:
        res.add(UNKNOWN, f"{what} a variable: the text is unknown until it runs")
        res.dangers.add("prepare-from-variable")
    else:
        res.add(UNKNOWN, f"{what} something limen cannot read")


def classify_tokens(tokens: list[Token]) -> Result:
    """Classes of one statement (``nested`` text left to the caller)."""
    res = Result(command=tokens[0].upper or tokens[0].text)
    _leading(tokens, res)
    _scan_functions(tokens, res)
    return res
