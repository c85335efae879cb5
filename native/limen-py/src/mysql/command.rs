//! The command phase's requests: `mysql_parse_command`, one frozen class per
//! command kind (`MySqlCommand` is their union), and `mysql_encode_query`.
use limen_wire::mysql::command::encode_query;
use limen_wire::mysql::Command;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::proto_err;
use crate::wire::{add_union, bytes};

/// Declares frozen command classes whose fields are all read-only.
macro_rules! command_classes {
    ($($(#[$doc:meta])* $rust:ident => $py:literal { $($field:ident : $ty:ty),* $(,)? })*) => {
        $(
            $(#[$doc])*
            #[pyclass(frozen, get_all, name = $py, module = "limen._native")]
            pub struct $rust {
                $(pub(crate) $field: $ty,)*
            }
        )*

        fn classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(m.add_class::<$rust>()?;)*
            let py = m.py();
            add_union(m, "MySqlCommand", &[$(py.get_type::<$rust>(),)*])
        }
    };
}

command_classes! {
    /// COM_QUIT: the client closes (no response).
    Quit => "MySqlQuit" {}
    /// COM_INIT_DB (`USE schema`).
    InitDb => "MySqlInitDb" { schema: Py<PyBytes> }
    /// COM_QUERY.
    Query => "MySqlQuery" { sql: Py<PyBytes> }
    /// COM_FIELD_LIST (deprecated).
    FieldList => "MySqlFieldList" { table: Py<PyBytes>, wildcard: Py<PyBytes> }
    /// COM_STATISTICS.
    Statistics => "MySqlStatistics" {}
    /// COM_PROCESS_KILL.
    ProcessKill => "MySqlProcessKill" { connection_id: u32 }
    /// COM_PING.
    Ping => "MySqlPing" {}
    /// COM_CHANGE_USER: a new login on the same connection.
    /// `auth_response` is a password proof: never log it.
    ChangeUser => "MySqlChangeUser" {
        username: Py<PyBytes>, auth_response: Py<PyBytes>, database: Py<PyBytes>,
        collation: Option<u16>, auth_plugin: Option<Py<PyBytes>>
    }
    /// COM_STMT_PREPARE.
    StmtPrepare => "MySqlStmtPrepare" { sql: Py<PyBytes> }
    /// COM_STMT_EXECUTE; `params` raw (their layout needs the prepare
    /// response's parameter count).
    StmtExecute => "MySqlStmtExecute" {
        statement_id: u32, flags: u8, iterations: u32, params: Py<PyBytes>
    }
    /// COM_STMT_SEND_LONG_DATA (no response).
    StmtSendLongData => "MySqlStmtSendLongData" {
        statement_id: u32, param_id: u16, data: Py<PyBytes>
    }
    /// COM_STMT_CLOSE (no response).
    StmtClose => "MySqlStmtClose" { statement_id: u32 }
    /// COM_STMT_RESET.
    StmtReset => "MySqlStmtReset" { statement_id: u32 }
    /// COM_SET_OPTION: 0 multi-statements on, 1 off.
    SetOption => "MySqlSetOption" { option: u16 }
    /// COM_STMT_FETCH (cursor).
    StmtFetch => "MySqlStmtFetch" { statement_id: u32, rows: u32 }
    /// COM_RESET_CONNECTION.
    ResetConnection => "MySqlResetConnection" {}
    /// Any other code (replication, shutdown, debug, ...): deny it.
    OtherCommand => "MySqlOtherCommand" { code: u8, body: Py<PyBytes> }
}

fn obj<T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>>>(
    py: Python<'_>,
    v: T,
) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, v)?.into_any())
}

/// Parses a command payload; `caps` are the negotiated capabilities
/// (COM_CHANGE_USER's layout depends on them).
#[pyfunction]
fn mysql_parse_command(py: Python<'_>, payload: &[u8], caps: u64) -> PyResult<Py<PyAny>> {
    let b = |v: &[u8]| bytes(py, v);
    match Command::try_parse(payload, caps).map_err(proto_err)? {
        Command::Quit => obj(py, Quit {}),
        Command::InitDb { schema } => obj(py, InitDb { schema: b(schema) }),
        Command::Query { sql } => obj(py, Query { sql: b(sql) }),
        Command::FieldList { table, wildcard } => obj(
            py,
            FieldList {
                table: b(table),
                wildcard: b(wildcard),
            },
        ),
        Command::Statistics => obj(py, Statistics {}),
        Command::ProcessKill { connection_id } => obj(py, ProcessKill { connection_id }),
        Command::Ping => obj(py, Ping {}),
        Command::ChangeUser(cu) => obj(
            py,
            ChangeUser {
                username: b(cu.username),
                auth_response: b(cu.auth_response),
                database: b(cu.database),
                collation: cu.collation,
                auth_plugin: cu.auth_plugin.map(b),
            },
        ),
        Command::StmtPrepare { sql } => obj(py, StmtPrepare { sql: b(sql) }),
        Command::StmtExecute {
            statement_id,
            flags,
            iterations,
            params,
        } => obj(
            py,
            StmtExecute {
                statement_id,
                flags,
                iterations,
                params: b(params),
            },
        ),
        Command::StmtSendLongData {
            statement_id,
            param_id,
            data,
        } => obj(
            py,
            StmtSendLongData {
                statement_id,
                param_id,
                data: b(data),
            },
        ),
        Command::StmtClose { statement_id } => obj(py, StmtClose { statement_id }),
        Command::StmtReset { statement_id } => obj(py, StmtReset { statement_id }),
        Command::SetOption { option } => obj(py, SetOption { option }),
        Command::StmtFetch { statement_id, rows } => obj(py, StmtFetch { statement_id, rows }),
        Command::ResetConnection => obj(py, ResetConnection {}),
        Command::Other { code, body } => obj(
            py,
            OtherCommand {
                code,
                body: b(body),
            },
        ),
    }
}

/// A COM_QUERY payload.
#[pyfunction]
fn mysql_encode_query(py: Python<'_>, sql: &[u8]) -> Py<PyBytes> {
    let mut out = Vec::with_capacity(sql.len() + 1);
    encode_query(&mut out, sql);
    bytes(py, &out)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    classes(m)?;
    m.add_function(wrap_pyfunction!(mysql_parse_command, m)?)?;
    m.add_function(wrap_pyfunction!(mysql_encode_query, m)?)?;
    Ok(())
}
