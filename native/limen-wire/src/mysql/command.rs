//! The command phase: the client's requests.
//!
//! References: MariaDB "COM_QUERY", "COM_STMT_PREPARE", "COM_STMT_EXECUTE",
//! "COM_CHANGE_USER", ... (one page per command) and MySQL
//! `page_protocol_command_phase*`. Each command is one packet whose first
//! byte is the command code and which starts at sequence id 0.
//!
//! `COM_QUERY` is decoded without query attributes: a gateway must not
//! advertise `CLIENT_QUERY_ATTRIBUTES` (see [`crate::mysql::caps::GATEWAY_SUPPORTED`]).
use crate::error::Error;
use crate::mysql::caps::{has, CLIENT_CONNECT_ATTRS, CLIENT_PLUGIN_AUTH, CLIENT_SECURE_CONNECTION};
use crate::mysql::codec::Reader;
use crate::mysql::handshake::{attributes_from, Attributes};

/// Command codes.
pub mod code {
    pub const SLEEP: u8 = 0x00;
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const CREATE_DB: u8 = 0x05;
    pub const DROP_DB: u8 = 0x06;
    pub const REFRESH: u8 = 0x07;
    pub const SHUTDOWN: u8 = 0x08;
    pub const STATISTICS: u8 = 0x09;
    pub const PROCESS_INFO: u8 = 0x0a;
    pub const CONNECT: u8 = 0x0b;
    pub const PROCESS_KILL: u8 = 0x0c;
    pub const DEBUG: u8 = 0x0d;
    pub const PING: u8 = 0x0e;
    pub const TIME: u8 = 0x0f;
    pub const DELAYED_INSERT: u8 = 0x10;
    pub const CHANGE_USER: u8 = 0x11;
    pub const BINLOG_DUMP: u8 = 0x12;
    pub const TABLE_DUMP: u8 = 0x13;
    pub const CONNECT_OUT: u8 = 0x14;
    pub const REGISTER_SLAVE: u8 = 0x15;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const SET_OPTION: u8 = 0x1b;
    pub const STMT_FETCH: u8 = 0x1c;
    pub const DAEMON: u8 = 0x1d;
    pub const BINLOG_DUMP_GTID: u8 = 0x1e;
    pub const RESET_CONNECTION: u8 = 0x1f;
    /// MariaDB bulk execute.
    pub const STMT_BULK_EXECUTE: u8 = 0xfa;
}

/// A client command, borrowed from its packet payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Quit,
    InitDb {
        schema: &'a [u8],
    },
    Query {
        sql: &'a [u8],
    },
    FieldList {
        table: &'a [u8],
        wildcard: &'a [u8],
    },
    Statistics,
    ProcessKill {
        connection_id: u32,
    },
    Ping,
    ChangeUser(ChangeUser<'a>),
    StmtPrepare {
        sql: &'a [u8],
    },
    /// Parameters stay raw: their layout needs the statement's parameter
    /// count from the COM_STMT_PREPARE response.
    StmtExecute {
        statement_id: u32,
        flags: u8,
        iterations: u32,
        params: &'a [u8],
    },
    StmtSendLongData {
        statement_id: u32,
        param_id: u16,
        data: &'a [u8],
    },
    StmtClose {
        statement_id: u32,
    },
    StmtReset {
        statement_id: u32,
    },
    /// 0 = multi-statements on, 1 = off.
    SetOption {
        option: u16,
    },
    StmtFetch {
        statement_id: u32,
        rows: u32,
    },
    ResetConnection,
    /// Any other code (replication, shutdown, debug, ...): the body is kept.
    Other {
        code: u8,
        body: &'a [u8],
    },
}

impl<'a> Command<'a> {
    /// Parses a command payload; `caps` are the negotiated capabilities
    /// (COM_CHANGE_USER's layout depends on them). An empty payload is an
    /// error.
    pub fn try_parse(payload: &'a [u8], caps: u64) -> Result<Self, Error> {
        let mut r = Reader::new(payload, "command");
        let c = r.u8()?;
        let cmd = match c {
            code::QUIT => Command::Quit,
            code::INIT_DB => Command::InitDb { schema: r.rest() },
            code::QUERY => Command::Query { sql: r.rest() },
            code::FIELD_LIST => Command::FieldList {
                table: r.cstr()?,
                wildcard: r.rest(),
            },
            code::STATISTICS => Command::Statistics,
            code::PROCESS_KILL => Command::ProcessKill {
                connection_id: r.u32()?,
            },
            code::PING => Command::Ping,
            code::CHANGE_USER => {
                let cu = ChangeUser::parse(&mut r, caps)?;
                return Ok(Command::ChangeUser(cu));
            }
            code::STMT_PREPARE => Command::StmtPrepare { sql: r.rest() },
            code::STMT_EXECUTE => Command::StmtExecute {
                statement_id: r.u32()?,
                flags: r.u8()?,
                iterations: r.u32()?,
                params: r.rest(),
            },
            code::STMT_SEND_LONG_DATA => Command::StmtSendLongData {
                statement_id: r.u32()?,
                param_id: r.u16()?,
                data: r.rest(),
            },
            code::STMT_CLOSE => Command::StmtClose {
                statement_id: r.u32()?,
            },
            code::STMT_RESET => Command::StmtReset {
                statement_id: r.u32()?,
            },
            code::SET_OPTION => Command::SetOption { option: r.u16()? },
            code::STMT_FETCH => Command::StmtFetch {
                statement_id: r.u32()?,
                rows: r.u32()?,
            },
            code::RESET_CONNECTION => Command::ResetConnection,
            other => Command::Other {
                code: other,
                body: r.rest(),
            },
        };
        r.finish()?;
        Ok(cmd)
    }

    /// The command code.
    pub fn code(&self) -> u8 {
        match self {
            Command::Quit => code::QUIT,
            Command::InitDb { .. } => code::INIT_DB,
            Command::Query { .. } => code::QUERY,
            Command::FieldList { .. } => code::FIELD_LIST,
            Command::Statistics => code::STATISTICS,
            Command::ProcessKill { .. } => code::PROCESS_KILL,
            Command::Ping => code::PING,
            Command::ChangeUser(_) => code::CHANGE_USER,
            Command::StmtPrepare { .. } => code::STMT_PREPARE,
            Command::StmtExecute { .. } => code::STMT_EXECUTE,
            Command::StmtSendLongData { .. } => code::STMT_SEND_LONG_DATA,
            Command::StmtClose { .. } => code::STMT_CLOSE,
            Command::StmtReset { .. } => code::STMT_RESET,
            Command::SetOption { .. } => code::SET_OPTION,
            Command::StmtFetch { .. } => code::STMT_FETCH,
            Command::ResetConnection => code::RESET_CONNECTION,
            Command::Other { code, .. } => *code,
        }
    }

    /// True for commands the server answers with nothing at all
    /// (COM_QUIT closes; COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA have no
    /// response).
    pub fn expects_no_response(&self) -> bool {
        matches!(
            self,
            Command::Quit | Command::StmtClose { .. } | Command::StmtSendLongData { .. }
        )
    }
}

/// COM_CHANGE_USER: a new login inside the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeUser<'a> {
    pub username: &'a [u8],
    pub auth_response: &'a [u8],
    pub database: &'a [u8],
    pub collation: Option<u16>,
    pub auth_plugin: Option<&'a [u8]>,
    pub attributes: Option<Attributes<'a>>,
}

impl<'a> ChangeUser<'a> {
    fn parse(r: &mut Reader<'a>, caps: u64) -> Result<Self, Error> {
        let username = r.cstr()?;
        let auth_response = if has(caps, CLIENT_SECURE_CONNECTION) {
            let n = usize::from(r.u8()?);
            r.bytes(n)?
        } else {
            r.cstr()?
        };
        let database = r.cstr()?;
        let collation = if r.is_empty() { None } else { Some(r.u16()?) };
        let auth_plugin = if has(caps, CLIENT_PLUGIN_AUTH) && !r.is_empty() {
            Some(r.cstr_or_rest())
        } else {
            None
        };
        let attributes = if has(caps, CLIENT_CONNECT_ATTRS) && !r.is_empty() {
            let raw = r.lenenc_str()?;
            Some(attributes_from(raw).map_err(|e| e.shifted(r.position() as u64))?)
        } else {
            None
        };
        r.finish()?;
        Ok(ChangeUser {
            username,
            auth_response,
            database,
            collation,
            auth_plugin,
            attributes,
        })
    }
}

/// Encodes a COM_QUERY payload (for the gateway's own queries upstream).
pub fn encode_query(out: &mut Vec<u8>, sql: &[u8]) {
    out.push(code::QUERY);
    out.extend_from_slice(sql);
}

/// Encodes a command with a 4-byte statement id (CLOSE, RESET).
pub fn encode_stmt_id(out: &mut Vec<u8>, code: u8, statement_id: u32) {
    out.push(code);
    out.extend_from_slice(&statement_id.to_le_bytes());
}
