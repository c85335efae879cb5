//! What each server packet of a command's response is.
//!
//! [`ResponseTracker`] follows the response to one command: OK / ERR, a
//! LOCAL INFILE request, or result sets (column count, definitions, an EOF
//! unless `CLIENT_DEPRECATE_EOF`, rows, the end marker, and another result
//! set while `SERVER_MORE_RESULTS_EXISTS` is set), and COM_STMT_PREPARE's
//! answer (PREPARE_OK, parameter and column definitions). A relay uses it
//! to know which packets are rows to mask and when the command is over.
//!
//! References: MariaDB "Result Set Packets", "COM_STMT_PREPARE" (response),
//! "LOCAL INFILE packet"; MySQL `page_protocol_com_query_response` and
//! `page_protocol_com_stmt_prepare_response`.
use crate::error::{Error, ErrorKind};
use crate::mysql::caps::{
    has, CLIENT_DEPRECATE_EOF, SERVER_MORE_RESULTS_EXISTS, SERVER_STATUS_CURSOR_EXISTS,
};
use crate::mysql::codec::Reader;
use crate::mysql::generic::{end_status, is_eof_marker, OkPacket, ERR, LOCAL_INFILE, OK};
use crate::mysql::resultset::parse_column_count;

/// The kind of response a command gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// OK or ERR only (COM_PING, COM_INIT_DB, COM_RESET_CONNECTION, ...).
    Ok,
    /// OK, ERR, LOCAL INFILE or text result sets (COM_QUERY).
    Query,
    /// OK, ERR or binary result sets (COM_STMT_EXECUTE).
    Execute,
    /// Binary rows of an open cursor then an end marker (COM_STMT_FETCH).
    Fetch,
    /// COM_STMT_PREPARE's answer.
    Prepare,
    /// Column definitions until an end marker (COM_FIELD_LIST).
    FieldList,
    /// One raw string packet (COM_STATISTICS).
    Raw,
}

/// What one server packet is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ok {
        status: u16,
    },
    Err,
    /// The server asks the client for a file (LOCAL INFILE): refuse unless
    /// a rule allows it.
    LocalInfile,
    ColumnCount(u64),
    ColumnDefinition,
    /// The EOF after the column definitions (without DEPRECATE_EOF).
    ColumnsEnd,
    TextRow,
    BinaryRow,
    /// The end of a result set's rows.
    RowsEnd {
        status: u16,
    },
    PrepareOk {
        statement_id: u32,
        columns: u16,
        params: u16,
    },
    ParamDefinition,
    ParamsEnd,
    Raw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    First,
    Columns { left: u64 },
    ColumnsEof,
    Rows,
    Params { left: u16, columns: u16 },
    ParamsEof { columns: u16 },
    PrepColumns { left: u16 },
    PrepColumnsEof,
    InfileAnswer,
    Done,
}

/// Follows the response to one command.
#[derive(Clone, Debug)]
pub struct ResponseTracker {
    caps: u64,
    expect: Expect,
    state: State,
    columns: u64,
}

impl ResponseTracker {
    /// A tracker for a command answered as `expect`, on a connection with
    /// the negotiated capabilities `caps`.
    pub fn new(expect: Expect, caps: u64) -> Self {
        let state = match expect {
            Expect::Fetch => State::Rows,
            Expect::FieldList => State::Columns { left: u64::MAX },
            _ => State::First,
        };
        ResponseTracker {
            caps,
            expect,
            state,
            columns: 0,
        }
    }

    /// True once the response is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Columns of the current result set (for row parsing).
    pub fn columns(&self) -> u64 {
        self.columns
    }

    /// After a LOCAL INFILE request the client sends the file (or an empty
    /// packet to refuse); call this when it has, to expect the final OK/ERR.
    pub fn infile_sent(&mut self) {
        if self.state == State::InfileAnswer {
            self.state = State::First;
            self.expect = Expect::Ok;
        }
    }

    fn deprecate_eof(&self) -> bool {
        has(self.caps, CLIENT_DEPRECATE_EOF)
    }

    fn after_end(&mut self, status: u16) {
        self.state = if status & SERVER_MORE_RESULTS_EXISTS != 0 {
            State::First
        } else {
            State::Done
        };
    }

    fn eof_status(&self, payload: &[u8]) -> Result<u16, Error> {
        end_status(payload, self.caps)
    }

    /// Classifies the next server packet. An ERR ends the response at any
    /// point; a packet that cannot come now is a remote error.
    pub fn on_packet(&mut self, payload: &[u8]) -> Result<Kind, Error> {
        let unexpected = || Error::remote(ErrorKind::UnexpectedMessage, 0, "command response");
        let first = *payload.first().ok_or_else(unexpected)?;
        if self.state == State::Done {
            return Err(unexpected());
        }
        // A text row starts with a length-encoded string (never 0xff), a
        // binary row with 0x00, a column definition with "def".
        if first == ERR {
            self.state = State::Done;
            return Ok(Kind::Err);
        }
        match self.state {
            State::First => match (self.expect, first) {
                (Expect::Raw, _) => {
                    self.state = State::Done;
                    Ok(Kind::Raw)
                }
                (Expect::Prepare, OK) => {
                    let mut r = Reader::new(payload, "COM_STMT_PREPARE_OK");
                    r.u8()?;
                    let statement_id = r.u32()?;
                    let columns = r.u16()?;
                    let params = r.u16()?;
                    self.state = if params > 0 {
                        State::Params {
                            left: params,
                            columns,
                        }
                    } else {
                        Self::prep_columns(columns)
                    };
                    Ok(Kind::PrepareOk {
                        statement_id,
                        columns,
                        params,
                    })
                }
                (Expect::Prepare, _) => Err(unexpected()),
                (_, OK) => {
                    let ok = OkPacket::try_parse(payload, self.caps)?;
                    self.after_end(ok.status);
                    Ok(Kind::Ok { status: ok.status })
                }
                (Expect::Query, LOCAL_INFILE) => {
                    self.state = State::InfileAnswer;
                    Ok(Kind::LocalInfile)
                }
                (Expect::Query | Expect::Execute, _) => {
                    let (n, follows) = parse_column_count(payload, self.caps)?;
                    if n == 0 {
                        return Err(unexpected());
                    }
                    self.columns = n;
                    self.state = if follows {
                        State::Columns { left: n }
                    } else {
                        State::Rows
                    };
                    Ok(Kind::ColumnCount(n))
                }
                _ => Err(unexpected()),
            },
            State::Columns { left } => {
                if self.expect == Expect::FieldList && is_eof_marker(payload) {
                    let status = self.eof_status(payload)?;
                    self.after_end(status);
                    self.state = State::Done;
                    return Ok(Kind::RowsEnd { status });
                }
                let left = left.saturating_sub(1);
                self.state = match (left, self.deprecate_eof()) {
                    (0, true) => State::Rows,
                    (0, false) => State::ColumnsEof,
                    _ => State::Columns { left },
                };
                Ok(Kind::ColumnDefinition)
            }
            State::ColumnsEof => {
                if !is_eof_marker(payload) {
                    return Err(unexpected());
                }
                let status = self.eof_status(payload)?;
                // An EXECUTE that opened a cursor ends here: its rows come
                // with COM_STMT_FETCH.
                self.state = if self.expect == Expect::Execute
                    && status & SERVER_STATUS_CURSOR_EXISTS != 0
                {
                    State::Done
                } else {
                    State::Rows
                };
                Ok(Kind::ColumnsEnd)
            }
            State::Rows => {
                if is_eof_marker(payload) {
                    let status = self.eof_status(payload)?;
                    self.after_end(status);
                    return Ok(Kind::RowsEnd { status });
                }
                Ok(match self.expect {
                    Expect::Execute | Expect::Fetch => Kind::BinaryRow,
                    _ => Kind::TextRow,
                })
            }
            State::Params { left, columns } => {
                let left = left.saturating_sub(1);
                self.state = match (left, self.deprecate_eof()) {
                    (0, false) => State::ParamsEof { columns },
                    (0, true) => Self::prep_columns(columns),
                    _ => State::Params { left, columns },
                };
                Ok(Kind::ParamDefinition)
            }
            State::ParamsEof { columns } => {
                if !is_eof_marker(payload) {
                    return Err(unexpected());
                }
                self.state = Self::prep_columns(columns);
                Ok(Kind::ParamsEnd)
            }
            State::PrepColumns { left } => {
                let left = left.saturating_sub(1);
                self.state = match (left, self.deprecate_eof()) {
                    (0, false) => State::PrepColumnsEof,
                    (0, true) => State::Done,
                    _ => State::PrepColumns { left },
                };
                Ok(Kind::ColumnDefinition)
            }
            State::PrepColumnsEof => {
                if !is_eof_marker(payload) {
                    return Err(unexpected());
                }
                self.state = State::Done;
                Ok(Kind::ColumnsEnd)
            }
            State::InfileAnswer | State::Done => Err(unexpected()),
        }
    }

    fn prep_columns(columns: u16) -> State {
        if columns > 0 {
            State::PrepColumns { left: columns }
        } else {
            State::Done
        }
    }
}
