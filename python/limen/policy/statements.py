"""Statement kinds of the parse tree by class, their command names (like
PostgreSQL's command tags), and whether an EXPLAIN runs its statement."""

from __future__ import annotations

import re
from typing import Final

from limen.policy.nodes import FALSE_VALUES, Node, unwrap

__all__ = [
    "ADMIN_ALTER_TABLE",
    "ADMIN_DROPS",
    "ADMIN_RENAMES",
    "ADMIN_STATEMENTS",
    "BETWEEN_KINDS",
    "DDL_STATEMENTS",
    "HARMLESS_STATEMENTS",
    "READ_STATEMENTS",
    "TABLE_OBJECTS",
    "TRANSACTION_COMMANDS",
    "TWO_PHASE",
    "WRITE_STATEMENTS",
    "command_name",
    "explain_analyze",
]

ADMIN_STATEMENTS: Final = frozenset(
    {
        "CreateRoleStmt",
        "AlterRoleStmt",
        "AlterRoleSetStmt",
        "DropRoleStmt",
        "GrantStmt",
        "GrantRoleStmt",
        "AlterDefaultPrivilegesStmt",
        "CreatedbStmt",
        "AlterDatabaseStmt",
        "AlterDatabaseSetStmt",
        "AlterDatabaseRefreshCollStmt",
        "DropdbStmt",
        "CreateTableSpaceStmt",
        "DropTableSpaceStmt",
        "AlterTableSpaceOptionsStmt",
        "AlterTableMoveAllStmt",
        "CreateExtensionStmt",
        "AlterExtensionStmt",
        "AlterExtensionContentsStmt",
        "CreatePLangStmt",
        "CreateFdwStmt",
        "AlterFdwStmt",
        "CreateForeignServerStmt",
        "AlterForeignServerStmt",
        "CreateUserMappingStmt",
        "AlterUserMappingStmt",
        "DropUserMappingStmt",
        "ImportForeignSchemaStmt",
        "CreateSubscriptionStmt",
        "AlterSubscriptionStmt",
        "DropSubscriptionStmt",
        "CreatePublicationStmt",
        "AlterPublicationStmt",
        "CreateEventTrigStmt",
        "AlterEventTrigStmt",
        "SecLabelStmt",
        "ReassignOwnedStmt",
        "DropOwnedStmt",
        "AlterOwnerStmt",
        "CreatePolicyStmt",
        "AlterPolicyStmt",
        "AlterSystemStmt",
        "LoadStmt",
        "CheckPointStmt",
        "VacuumStmt",
        "ClusterStmt",
        "ReindexStmt",
        "DoStmt",
        "CreateAmStmt",
        "CreateTransformStmt",
        "ReplicaIdentityStmt",
    }
)
DDL_STATEMENTS: Final = frozenset(
    {
        "AlterCollationStmt",
        "AlterDomainStmt",
        "AlterEnumStmt",
        "AlterFunctionStmt",
        "AlterObjectDependsStmt",
        "AlterObjectSchemaStmt",
        "AlterOpFamilyStmt",
        "AlterOperatorStmt",
        "AlterSeqStmt",
        "AlterStatsStmt",
        "AlterTSConfigurationStmt",
        "AlterTSDictionaryStmt",
        "AlterTableStmt",
        "AlterTypeStmt",
        "CommentStmt",
        "CompositeTypeStmt",
        "CreateCastStmt",
        "CreateConversionStmt",
        "CreateDomainStmt",
        "CreateEnumStmt",
        "CreateForeignTableStmt",
        "CreateFunctionStmt",
        "CreateOpClassStmt",
        "CreateOpFamilyStmt",
        "CreateRangeStmt",
        "CreateSchemaStmt",
        "CreateSeqStmt",
        "CreateStatsStmt",
        "CreateStmt",
        "CreateTableAsStmt",
        "CreateTrigStmt",
        "DefineStmt",
        "DropStmt",
        "IndexStmt",
        "RenameStmt",
        "RuleStmt",
        "ViewStmt",
    }
)
WRITE_STATEMENTS: Final = {
    "InsertStmt": "INSERT changes data",
    "UpdateStmt": "UPDATE changes data",
    "DeleteStmt": "DELETE changes data",
    "MergeStmt": "MERGE changes data",
    "TruncateStmt": "TRUNCATE empties whole tables",
    "LockStmt": "LOCK takes table locks",
    "NotifyStmt": "NOTIFY signals other sessions",
    "CallStmt": "CALL runs a procedure, which may change data",
    "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW rewrites stored data",
}
READ_STATEMENTS: Final = {
    "SelectStmt": "a query",
    "VariableShowStmt": "SHOW reads a setting",
    "FetchStmt": "FETCH reads from a cursor judged when it was declared",
    "ListenStmt": "LISTEN receives notifications",
    "DeclareCursorStmt": "DECLARE CURSOR for a query",
}
HARMLESS_STATEMENTS: Final = {
    "DeallocateStmt": "DEALLOCATE forgets a prepared statement",
    "DiscardStmt": "DISCARD resets session state",
    "ClosePortalStmt": "CLOSE closes a cursor",
    "UnlistenStmt": "UNLISTEN stops notifications",
    "ConstraintsSetStmt": "SET CONSTRAINTS changes when constraints are checked",
}
ADMIN_DROPS: Final = frozenset(
    {
        "OBJECT_EXTENSION",
        "OBJECT_FDW",
        "OBJECT_FOREIGN_SERVER",
        "OBJECT_EVENT_TRIGGER",
        "OBJECT_PUBLICATION",
        "OBJECT_LANGUAGE",
        "OBJECT_POLICY",
        "OBJECT_ACCESS_METHOD",
        "OBJECT_TRANSFORM",
    }
)
ADMIN_RENAMES: Final = frozenset({"OBJECT_ROLE", "OBJECT_DATABASE", "OBJECT_TABLESPACE"})
ADMIN_ALTER_TABLE: Final = frozenset(
    {
        "AT_ChangeOwner",
        "AT_EnableRowSecurity",
        "AT_DisableRowSecurity",
        "AT_ForceRowSecurity",
        "AT_NoForceRowSecurity",
    }
)
TABLE_OBJECTS: Final = frozenset(
    {
        "OBJECT_TABLE",
        "OBJECT_VIEW",
        "OBJECT_MATVIEW",
        "OBJECT_FOREIGN_TABLE",
        "OBJECT_SEQUENCE",
        "OBJECT_INDEX",
    }
)
TRANSACTION_COMMANDS: Final = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_SAVEPOINT": "SAVEPOINT",
    "TRANS_STMT_RELEASE": "RELEASE",
    "TRANS_STMT_ROLLBACK_TO": "ROLLBACK TO SAVEPOINT",
}
TWO_PHASE: Final = {
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}
BETWEEN_KINDS: Final = frozenset(
    {
        "AEXPR_BETWEEN",
        "AEXPR_NOT_BETWEEN",
        "AEXPR_BETWEEN_SYM",
        "AEXPR_NOT_BETWEEN_SYM",
    }
)
_CAMEL: Final = re.compile(r"(?<=[a-z])(?=[A-Z])")

_COMMANDS: Final = {
    "CreatedbStmt": "CREATE DATABASE",
    "DropdbStmt": "DROP DATABASE",
    "CheckPointStmt": "CHECKPOINT",
    "CreatePLangStmt": "CREATE LANGUAGE",
    "SecLabelStmt": "SECURITY LABEL",
    "CreateFdwStmt": "CREATE FOREIGN DATA WRAPPER",
    "AlterFdwStmt": "ALTER FOREIGN DATA WRAPPER",
    "CreateTableSpaceStmt": "CREATE TABLESPACE",
    "DropTableSpaceStmt": "DROP TABLESPACE",
    "AlterOwnerStmt": "ALTER … OWNER TO",
    "ConstraintsSetStmt": "SET CONSTRAINTS",
    "VariableShowStmt": "SHOW",
    "ClosePortalStmt": "CLOSE",
    "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW",
    "CreateEventTrigStmt": "CREATE EVENT TRIGGER",
    "CreateTrigStmt": "CREATE TRIGGER",
    "IndexStmt": "CREATE INDEX",
    "ViewStmt": "CREATE VIEW",
    "CreateStmt": "CREATE TABLE",
    "RuleStmt": "CREATE RULE",
    "DefineStmt": "CREATE",
    "CompositeTypeStmt": "CREATE TYPE",
    "CreateSeqStmt": "CREATE SEQUENCE",
    "AlterSeqStmt": "ALTER SEQUENCE",
    "CreateStatsStmt": "CREATE STATISTICS",
    "AlterStatsStmt": "ALTER STATISTICS",
    "ReplicaIdentityStmt": "ALTER TABLE … REPLICA IDENTITY",
    "ReturnStmt": "RETURN",
}


def command_name(kind: str) -> str:
    known = _COMMANDS.get(kind)
    if known is not None:
        return known
    return _CAMEL.sub(" ", kind.removesuffix("Stmt")).upper()


def explain_analyze(body: Node) -> bool:
    """Whether EXPLAIN's options include ANALYZE (anything but an explicit false)."""
    for option in body.get("options", []):
        _, opt = unwrap(option)
        if str(opt.get("defname", "")).lower() != "analyze":
            continue
        arg = opt.get("arg")
        if arg is None:
            return True
        kind, inner = unwrap(arg)
        value: object
        if kind == "String":
            value = inner.get("sval", "")
        elif kind == "Integer":
            value = inner.get("ival", 0)
        elif kind == "Boolean":
            value = inner.get("boolval", False)
        else:
            return True
        if value is False or value == 0 or str(value).lower() in FALSE_VALUES:
            continue
        return True
    return False
