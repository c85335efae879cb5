"""What limen knows about PostgreSQL's functions and operators.

A function call is judged by its name, the way it is written (limen does not
see the database's catalog):

- **admin**: server-side files, programs, other sessions, replication,
  configuration, statistics resets, and functions that run SQL text given at
  run time (``query_to_xml``, ``ts_stat``); also whole families by prefix
  (``dblink*``, ``pg_ls_*``, ``pg_read_*``, ``binary_upgrade_*`` …). Matched in
  any schema, so an extension installed in ``public`` is caught too.
- **write**: functions that change data or shared state: sequences
  (``nextval``, ``setval``), large-object writes, ``pg_notify``, advisory locks.
- **harmless**: built-ins that are immutable or stable in ``pg_catalog`` or
  ``information_schema`` (generated from a real server into
  ``pg_catalog.txt`` by :mod:`limen.policy._gen_catalog`), plus volatile
  built-ins that only read or waste time (``random``, ``clock_timestamp``,
  ``pg_sleep``, ``currval``, large-object reads …). Only unqualified names and
  names qualified with those two schemas are looked up here.
- **everything else** is ``write``: a user-defined or extension function may
  do anything its owner wrote, and limen cannot see its body. This is the
  fail-safe reading; a list of functions an operator vouches for can be added
  to the config later (:attr:`StatementInfo.functions` keeps the names).

Known limit: an identity allowed ``ddl`` can create a function that shadows a
built-in name for a more specific argument type (or put its schema before
``pg_catalog`` in ``search_path``), and limen would still judge the call by
the built-in's name. Grant ``ddl`` only to identities you would also trust
with what their functions do.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Final

__all__ = ["function_class", "is_builtin_operator", "tablesample_is_builtin"]

ADMIN_FUNCTIONS: Final = frozenset(
    {
        # server files and programs
        "pg_read_file",
        "pg_read_file_old",
        "pg_read_binary_file",
        "pg_stat_file",
        "pg_file_write",
        "pg_file_rename",
        "pg_file_unlink",
        "pg_file_sync",
        "pg_logdir_ls",
        "lo_import",
        "lo_export",
        "pg_hba_file_rules",
        "pg_ident_file_mappings",
        "pg_show_all_file_settings",
        # other sessions and the server itself
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_signal_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_rotate_logfile_old",
        "pg_log_backend_memory_contexts",
        "pg_log_standby_snapshot",
        "pg_promote",
        "pg_switch_wal",
        "pg_switch_xlog",
        "pg_create_restore_point",
        "pg_start_backup",
        "pg_stop_backup",
        "pg_backup_start",
        "pg_backup_stop",
        "pg_wal_replay_pause",
        "pg_wal_replay_resume",
        "pg_xlog_replay_pause",
        "pg_xlog_replay_resume",
        "pg_import_system_collations",
        "pg_stop_making_pinned_objects",
        "pg_extension_config_dump",
        "pg_prewarm",
        "pg_nextoid",
        # settings
        "set_config",
        # maintenance
        "brin_summarize_new_values",
        "brin_summarize_range",
        "brin_desummarize_range",
        "gin_clean_pending_list",
        # run SQL text chosen at run time
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "ts_stat",
        "ts_rewrite",
    }
)

ADMIN_PREFIXES: Final = (
    "dblink",
    "pg_ls_",
    "pg_read_",
    "pg_file_",
    "pg_stat_reset",
    "pg_stat_statements_reset",
    "binary_upgrade_",
    "pg_replication_origin_create",
    "pg_replication_origin_drop",
    "pg_replication_origin_advance",
    "pg_replication_origin_session_setup",
    "pg_replication_origin_session_reset",
    "pg_replication_origin_xact_",
    "pg_create_",  # replication slots, restore points
    "pg_drop_replication_slot",
    "pg_copy_",  # replication slots
    "pg_replication_slot_advance",
    "pg_sync_replication_slots",
    "pg_logical_",
    "pg_restore_",  # relation and attribute statistics
    "pg_clear_",
    "pg_set_relation_stats",
    "pg_set_attribute_stats",
)

WRITE_FUNCTIONS: Final = frozenset(
    {
        "nextval",
        "setval",
        "lo_creat",
        "lo_create",
        "lo_unlink",
        "lowrite",
        "lo_put",
        "lo_from_bytea",
        "lo_truncate",
        "lo_truncate64",
        "pg_notify",
        "pg_advisory_lock",
        "pg_advisory_lock_shared",
        "pg_advisory_unlock",
        "pg_advisory_unlock_all",
        "pg_advisory_unlock_shared",
        "pg_advisory_xact_lock",
        "pg_advisory_xact_lock_shared",
        "pg_try_advisory_lock",
        "pg_try_advisory_lock_shared",
        "pg_try_advisory_xact_lock",
        "pg_try_advisory_xact_lock_shared",
    }
)

# Volatile built-ins that only read, or only affect this session's own
# harmless state (the random seed, the snapshot), plus newer built-ins the
# generated list (from an older server) does not have.
HARMLESS_FUNCTIONS: Final = frozenset(
    {
        "random",
        "random_normal",
        "setseed",
        "clock_timestamp",
        "timeofday",
        "gen_random_uuid",
        "uuidv4",
        "uuidv7",
        "uuid_extract_timestamp",
        "uuid_extract_version",
        "array_sample",
        "array_shuffle",
        "array_reverse",
        "array_sort",
        "any_value",
        "casefold",
        "crc32",
        "crc32c",
        "erf",
        "erfc",
        "gamma",
        "lgamma",
        "pg_input_is_valid",
        "pg_input_error_info",
        "system_user",
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "currval",
        "lastval",
        "current_query",
        "txid_current",
        "txid_current_if_assigned",
        "txid_status",
        "pg_current_xact_id",
        "pg_current_xact_id_if_assigned",
        "pg_xact_status",
        "pg_xact_commit_timestamp",
        "pg_xact_commit_timestamp_origin",
        "pg_last_committed_xact",
        "pg_export_snapshot",
        "pg_stat_clear_snapshot",
        "pg_stat_force_next_flush",
        "pg_stat_have_stats",
        "pg_is_in_recovery",
        "pg_is_wal_replay_paused",
        "pg_get_wal_replay_pause_state",
        "pg_get_wal_resource_managers",
        "pg_current_wal_lsn",
        "pg_current_wal_flush_lsn",
        "pg_current_wal_insert_lsn",
        "pg_last_wal_receive_lsn",
        "pg_last_wal_replay_lsn",
        "pg_last_xact_replay_timestamp",
        "pg_current_logfile",
        "pg_database_size",
        "pg_relation_size",
        "pg_table_size",
        "pg_indexes_size",
        "pg_total_relation_size",
        "pg_tablespace_size",
        "pg_sequence_last_value",
        "pg_lock_status",
        "pg_blocking_pids",
        "pg_safe_snapshot_blocking_pids",
        "pg_isolation_test_session_is_blocked",
        "pg_notification_queue_usage",
        "pg_partition_ancestors",
        "pg_partition_tree",
        "pg_prepared_xact",
        "pg_collation_actual_version",
        "pg_database_collation_actual_version",
        "pg_get_multixact_members",
        "pg_get_shmem_allocations",
        "pg_get_backend_memory_contexts",
        "pg_jit_available",
        "pg_control_checkpoint",
        "pg_control_init",
        "pg_control_recovery",
        "pg_control_system",
        "pg_replication_origin_progress",
        "pg_replication_origin_session_progress",
        "pg_replication_origin_session_is_setup",
        "pg_show_replication_origin_status",
        "pg_stat_get_recovery_prefetch",
        "cursor_to_xml",  # FETCHes from a cursor, which was judged when declared
        "cursor_to_xmlschema",
        "lo_open",
        "lo_close",
        "loread",
        "lo_lseek",
        "lo_lseek64",
        "lo_tell",
        "lo_tell64",
        "lo_get",
    }
)

_BUILTIN_SCHEMAS: Final = ("pg_catalog", "information_schema")
_TABLESAMPLE_METHODS: Final = frozenset({"bernoulli", "system"})


@cache
def _generated() -> tuple[frozenset[str], frozenset[str]]:
    """(``schema.name`` of non-volatile built-in functions, operator symbols)."""
    text = resources.files("limen.policy").joinpath("pg_catalog.txt").read_text("utf-8")
    functions: set[str] = set()
    operators: set[str] = set()
    section: set[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "[functions]":
            section = functions
        elif line == "[operators]":
            section = operators
        elif section is not None:
            section.add(line)
    return frozenset(functions), frozenset(operators)


def function_class(names: tuple[str, ...]) -> tuple[str | None, str]:
    """The class a call of the function named ``names`` (as written: ``name``,
    ``schema.name`` or ``catalog.schema.name``) adds to a statement, and why.
    ``None`` means the call is harmless."""
    name = names[-1] if names else ""
    schema = names[-2] if len(names) >= 2 else None
    shown = ".".join(names)
    if name in ADMIN_FUNCTIONS or name.startswith(ADMIN_PREFIXES):
        return "admin", f"calls {shown}() (server files, programs, sessions or settings)"
    if name in WRITE_FUNCTIONS:
        return "write", f"calls {shown}(), which changes data or takes locks"
    if schema is None or schema in _BUILTIN_SCHEMAS:
        nonvolatile = _generated()[0]
        if name in HARMLESS_FUNCTIONS and schema != "information_schema":
            return None, ""
        if schema is None:
            if f"pg_catalog.{name}" in nonvolatile:
                return None, ""
        elif f"{schema}.{name}" in nonvolatile:
            return None, ""
    return "write", f"calls {shown}(), which limen does not know to be free of side effects"


def is_builtin_operator(names: tuple[str, ...]) -> bool:
    """True for a built-in operator symbol, unqualified or in ``pg_catalog``."""
    if not names:
        return False
    if len(names) >= 2 and names[-2] != "pg_catalog":
        return False
    return names[-1] in _generated()[1]


def tablesample_is_builtin(names: tuple[str, ...]) -> bool:
    if len(names) >= 2 and names[-2] != "pg_catalog":
        return False
    return bool(names) and names[-1] in _TABLESAMPLE_METHODS
