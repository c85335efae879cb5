//! The generic response packets: OK, ERR and EOF.
//!
//! References: MariaDB "OK_Packet", "ERR_Packet" (with the progress report
//! form, code 0xffff), "EOF_Packet"; MySQL `page_protocol_basic_ok_packet`,
//! `..._err_packet`, `..._eof_packet`. With `CLIENT_DEPRECATE_EOF` a result
//! set ends with an OK packet whose header is `0xfe` instead of an EOF.
use crate::error::{Error, ErrorKind};
use crate::mysql::caps::{has, CLIENT_SESSION_TRACK, SERVER_SESSION_STATE_CHANGED};
use crate::mysql::codec::{put_lenenc, put_lenenc_str, Reader};

/// Header byte of an OK packet.
pub const OK: u8 = 0x00;
/// Header byte of an EOF packet (and of an OK that ends a result set under
/// `CLIENT_DEPRECATE_EOF`).
pub const EOF: u8 = 0xfe;
/// Header byte of an ERR packet.
pub const ERR: u8 = 0xff;
/// Header byte of a LOCAL INFILE request.
pub const LOCAL_INFILE: u8 = 0xfb;

/// True when a payload starting with `0xfe` is an EOF/end-of-rows marker and
/// not a row or column count (those would need a packet of 16 MiB).
pub fn is_eof_marker(payload: &[u8]) -> bool {
    payload.first() == Some(&EOF) && payload.len() < 0xff_ffff
}

/// An OK packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OkPacket<'a> {
    /// `0x00`, or `0xfe` for the end of a result set with DEPRECATE_EOF.
    pub header: u8,
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    pub info: &'a [u8],
    /// Raw session state changes (with SERVER_SESSION_STATE_CHANGED).
    pub session_state: &'a [u8],
}

impl<'a> OkPacket<'a> {
    /// Parses an OK payload; `caps` are the negotiated capabilities.
    pub fn try_parse(payload: &'a [u8], caps: u64) -> Result<Self, Error> {
        let mut r = Reader::new(payload, "OK packet");
        let header = r.u8()?;
        if header != OK && header != EOF {
            return Err(Error::remote(ErrorKind::InvalidValue, 0, "OK packet"));
        }
        let affected_rows = r.lenenc()?;
        let last_insert_id = r.lenenc()?;
        let status = r.u16()?;
        let warnings = r.u16()?;
        let mut info: &[u8] = &[];
        let mut session_state: &[u8] = &[];
        if has(caps, CLIENT_SESSION_TRACK) {
            if !r.is_empty() {
                info = r.lenenc_str()?;
            }
            if status & SERVER_SESSION_STATE_CHANGED != 0 && !r.is_empty() {
                session_state = r.lenenc_str()?;
            }
        } else {
            info = r.rest();
        }
        r.finish()?;
        Ok(OkPacket {
            header,
            affected_rows,
            last_insert_id,
            status,
            warnings,
            info,
            session_state,
        })
    }

    /// Encodes the payload for a peer with capabilities `caps`.
    pub fn encode(&self, out: &mut Vec<u8>, caps: u64) {
        out.push(self.header);
        put_lenenc(out, self.affected_rows);
        put_lenenc(out, self.last_insert_id);
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&self.warnings.to_le_bytes());
        if has(caps, CLIENT_SESSION_TRACK) {
            let state = self.status & SERVER_SESSION_STATE_CHANGED != 0;
            if !self.info.is_empty() || state {
                put_lenenc_str(out, self.info);
            }
            if state {
                put_lenenc_str(out, self.session_state);
            }
        } else {
            out.extend_from_slice(self.info);
        }
    }
}

/// An ERR packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrPacket<'a> {
    Error {
        code: u16,
        /// Five characters, e.g. `42000`; absent before PROTOCOL_41.
        sql_state: Option<[u8; 5]>,
        message: &'a [u8],
    },
    /// MariaDB progress report (code 0xffff), sent only to clients that
    /// asked for progress reports.
    Progress {
        stage: u8,
        max_stage: u8,
        /// Thousandths of a percent.
        progress: u32,
        info: &'a [u8],
    },
}

impl<'a> ErrPacket<'a> {
    /// Parses an ERR payload.
    pub fn try_parse(payload: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(payload, "ERR packet");
        if r.u8()? != ERR {
            return Err(Error::remote(ErrorKind::InvalidValue, 0, "ERR packet"));
        }
        let code = r.u16()?;
        if code == 0xffff {
            let stage = r.u8()?;
            let max_stage = r.u8()?;
            let progress = r.u24()?;
            let info = r.lenenc_str()?;
            r.finish()?;
            return Ok(ErrPacket::Progress {
                stage,
                max_stage,
                progress,
                info,
            });
        }
        let sql_state = if r.peek() == Some(b'#') {
            r.u8()?;
            Some(r.array::<5>()?)
        } else {
            None
        };
        Ok(ErrPacket::Error {
            code,
            sql_state,
            message: r.rest(),
        })
    }

    /// Encodes the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(ERR);
        match *self {
            ErrPacket::Error {
                code,
                sql_state,
                message,
            } => {
                out.extend_from_slice(&code.to_le_bytes());
                if let Some(state) = sql_state {
                    out.push(b'#');
                    out.extend_from_slice(&state);
                }
                out.extend_from_slice(message);
            }
            ErrPacket::Progress {
                stage,
                max_stage,
                progress,
                info,
            } => {
                out.extend_from_slice(&0xffffu16.to_le_bytes());
                out.push(stage);
                out.push(max_stage);
                out.extend_from_slice(&progress.min(0xff_ffff).to_le_bytes()[..3]);
                put_lenenc_str(out, info);
            }
        }
    }
}

/// An EOF packet (PROTOCOL_41 form).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EofPacket {
    pub warnings: u16,
    pub status: u16,
}

impl EofPacket {
    /// Parses an EOF payload (5 bytes; a bare `0xfe` from an old server
    /// reads as zero warnings and status).
    pub fn try_parse(payload: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(payload, "EOF packet");
        if r.u8()? != EOF {
            return Err(Error::remote(ErrorKind::InvalidValue, 0, "EOF packet"));
        }
        if r.is_empty() {
            return Ok(EofPacket::default());
        }
        let warnings = r.u16()?;
        let status = r.u16()?;
        r.finish()?;
        Ok(EofPacket { warnings, status })
    }

    /// Encodes the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(EOF);
        out.extend_from_slice(&self.warnings.to_le_bytes());
        out.extend_from_slice(&self.status.to_le_bytes());
    }
}

/// Where a result set or command response ends: either form, with the
/// status flags (SERVER_MORE_RESULTS_EXISTS tells whether another follows).
pub fn end_status(payload: &[u8], caps: u64) -> Result<u16, Error> {
    if has(caps, crate::mysql::caps::CLIENT_DEPRECATE_EOF) {
        OkPacket::try_parse(payload, caps).map(|ok| ok.status)
    } else {
        EofPacket::try_parse(payload).map(|e| e.status)
    }
}
