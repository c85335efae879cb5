//! The connection phase's first packets: the server's HandshakeV10, the
//! client's SSLRequest and HandshakeResponse41.
//!
//! References: MariaDB "Connection" (Initial handshake packet, SSLRequest
//! packet, Handshake response packet, MariaDB extended capabilities in the
//! filler), MySQL `page_protocol_connection_phase_packets_protocol_handshake_v10`
//! and `..._protocol_handshake_response`. Both decoders need
//! `CLIENT_PROTOCOL_41` (pre-4.1 handshakes are refused).
use crate::error::{Error, ErrorKind};
use crate::mysql::caps::{
    has, CLIENT_CONNECT_ATTRS, CLIENT_CONNECT_WITH_DB, CLIENT_MYSQL, CLIENT_PLUGIN_AUTH,
    CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION,
    CLIENT_SSL, CLIENT_ZSTD_COMPRESSION,
};
use crate::mysql::codec::{put_cstr, put_lenenc_str, Reader};

/// The server's greeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeV10<'a> {
    /// e.g. `5.5.5-10.11.19-MariaDB-0+deb12u1` (MariaDB prefixes `5.5.5-`).
    pub server_version: &'a [u8],
    pub connection_id: u32,
    /// The whole scramble (nonce), both parts joined, without the trailing
    /// NUL: 20 bytes from real servers.
    pub scramble: Vec<u8>,
    /// Capabilities, MariaDB's extended ones in the high 32 bits.
    pub capabilities: u64,
    pub collation: u8,
    pub status: u16,
    /// Empty when the server does not send one.
    pub auth_plugin: &'a [u8],
}

impl<'a> HandshakeV10<'a> {
    /// Parses the payload of the server's first packet.
    pub fn try_parse(payload: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(payload, "HandshakeV10");
        if r.u8()? != 10 {
            return Err(Error::remote(
                ErrorKind::UnsupportedProtocol,
                0,
                "HandshakeV10",
            ));
        }
        let server_version = r.cstr()?;
        let connection_id = r.u32()?;
        let mut scramble = r.bytes(8)?.to_vec();
        r.u8()?;
        let low = u64::from(r.u16()?);
        let collation = r.u8()?;
        let status = r.u16()?;
        let high = u64::from(r.u16()?) << 16;
        let mut capabilities = low | high;
        if !has(capabilities, CLIENT_PROTOCOL_41) {
            return Err(r.err(ErrorKind::UnsupportedProtocol));
        }
        let data_len = usize::from(r.u8()?);
        r.bytes(6)?;
        let ext = r.u32()?;
        if !has(capabilities, CLIENT_MYSQL) {
            capabilities |= u64::from(ext) << 32;
        }
        if has(capabilities, CLIENT_SECURE_CONNECTION) {
            let n = data_len.saturating_sub(9).max(12);
            scramble.extend_from_slice(r.bytes(n)?);
            r.u8()?;
        }
        let auth_plugin = if has(capabilities, CLIENT_PLUGIN_AUTH) {
            r.cstr_or_rest()
        } else {
            &[]
        };
        Ok(HandshakeV10 {
            server_version,
            connection_id,
            scramble,
            capabilities,
            collation,
            status,
            auth_plugin,
        })
    }

    /// Encodes the payload. The scramble must be 20 bytes (8 + 12) or more.
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let ctx = "HandshakeV10 encode";
        // Without CLIENT_PLUGIN_AUTH the length is not sent and a reader
        // takes 8 + 12 bytes: anything else could not be read back.
        let plugin_auth = has(self.capabilities, CLIENT_PLUGIN_AUTH);
        if self.scramble.len() < 20
            || self.scramble.len() > 254
            || (!plugin_auth && self.scramble.len() != 20)
        {
            return Err(Error::local(ErrorKind::InvalidValue, ctx));
        }
        out.push(10);
        put_cstr(out, self.server_version, ctx)?;
        out.extend_from_slice(&self.connection_id.to_le_bytes());
        out.extend_from_slice(&self.scramble[..8]);
        out.push(0);
        let caps = self.capabilities;
        out.extend_from_slice(&(caps as u16).to_le_bytes());
        out.push(self.collation);
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        out.push(if has(caps, CLIENT_PLUGIN_AUTH) {
            (self.scramble.len() + 1) as u8
        } else {
            0
        });
        out.extend_from_slice(&[0; 6]);
        let ext = if has(caps, CLIENT_MYSQL) {
            0
        } else {
            (caps >> 32) as u32
        };
        out.extend_from_slice(&ext.to_le_bytes());
        if has(caps, CLIENT_SECURE_CONNECTION) {
            out.extend_from_slice(&self.scramble[8..]);
            out.push(0);
        }
        if has(caps, CLIENT_PLUGIN_AUTH) {
            put_cstr(out, self.auth_plugin, ctx)?;
        }
        Ok(())
    }
}

/// The fixed 32-byte head every HandshakeResponse41 starts with; alone, it
/// is the SSLRequest (the client then starts TLS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SslRequest {
    /// Client capabilities, MariaDB's extended ones in the high 32 bits.
    pub capabilities: u64,
    pub max_packet_size: u32,
    pub collation: u8,
}

impl SslRequest {
    fn parse_head(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut capabilities = u64::from(r.u32()?);
        if !has(capabilities, CLIENT_PROTOCOL_41) {
            return Err(r.err(ErrorKind::UnsupportedProtocol));
        }
        let max_packet_size = r.u32()?;
        let collation = r.u8()?;
        r.bytes(19)?;
        let ext = r.u32()?;
        if !has(capabilities, CLIENT_MYSQL) {
            capabilities |= u64::from(ext) << 32;
        }
        Ok(SslRequest {
            capabilities,
            max_packet_size,
            collation,
        })
    }

    /// Encodes the 32-byte payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let caps = self.capabilities;
        out.extend_from_slice(&(caps as u32).to_le_bytes());
        out.extend_from_slice(&self.max_packet_size.to_le_bytes());
        out.push(self.collation);
        out.extend_from_slice(&[0; 19]);
        let ext = if has(caps, CLIENT_MYSQL) {
            0
        } else {
            (caps >> 32) as u32
        };
        out.extend_from_slice(&ext.to_le_bytes());
    }
}

/// The client's answer to the greeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeResponse41<'a> {
    pub head: SslRequest,
    pub username: &'a [u8],
    pub auth_response: &'a [u8],
    /// With `CLIENT_CONNECT_WITH_DB`.
    pub database: Option<&'a [u8]>,
    /// With `CLIENT_PLUGIN_AUTH`.
    pub auth_plugin: Option<&'a [u8]>,
    /// With `CLIENT_CONNECT_ATTRS`: the validated key/value pairs.
    pub attributes: Option<Attributes<'a>>,
    /// With `CLIENT_ZSTD_COMPRESSION` (MySQL 8).
    pub zstd_level: Option<u8>,
}

/// What the client's first packet is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientHello<'a> {
    /// The client asks for TLS (32-byte packet with `CLIENT_SSL`).
    Ssl(SslRequest),
    Response(HandshakeResponse41<'a>),
}

impl<'a> ClientHello<'a> {
    /// Parses the client's first packet (or, after TLS, its second).
    pub fn try_parse(payload: &'a [u8]) -> Result<Self, Error> {
        if payload.len() == 32 {
            let head = SslRequest::parse_head(&mut Reader::new(payload, "SSLRequest"))?;
            if has(head.capabilities, CLIENT_SSL) {
                return Ok(ClientHello::Ssl(head));
            }
        }
        HandshakeResponse41::try_parse(payload).map(ClientHello::Response)
    }
}

impl<'a> HandshakeResponse41<'a> {
    /// Parses a HandshakeResponse41 payload.
    pub fn try_parse(payload: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(payload, "HandshakeResponse41");
        let head = SslRequest::parse_head(&mut r)?;
        let caps = head.capabilities;
        let username = r.cstr()?;
        let auth_response = if has(caps, CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            r.lenenc_str()?
        } else if has(caps, CLIENT_SECURE_CONNECTION) {
            let n = usize::from(r.u8()?);
            r.bytes(n)?
        } else {
            r.cstr()?
        };
        let database = if has(caps, CLIENT_CONNECT_WITH_DB) {
            Some(r.cstr_or_rest())
        } else {
            None
        };
        let auth_plugin = if has(caps, CLIENT_PLUGIN_AUTH) {
            Some(r.cstr_or_rest())
        } else {
            None
        };
        let attributes = if has(caps, CLIENT_CONNECT_ATTRS) && !r.is_empty() {
            let raw = r.lenenc_str()?;
            Some(Attributes::try_parse(raw).map_err(|e| e.shifted(r.position() as u64))?)
        } else {
            None
        };
        let zstd_level = if has(caps, CLIENT_ZSTD_COMPRESSION) && !r.is_empty() {
            Some(r.u8()?)
        } else {
            None
        };
        r.finish()?;
        Ok(HandshakeResponse41 {
            head,
            username,
            auth_response,
            database,
            auth_plugin,
            attributes,
            zstd_level,
        })
    }

    /// Encodes the payload (the fields are written as the capabilities in
    /// `head` say; a missing optional field is written empty).
    pub fn try_encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let ctx = "HandshakeResponse41 encode";
        let caps = self.head.capabilities;
        self.head.encode(out);
        put_cstr(out, self.username, ctx)?;
        if has(caps, CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            put_lenenc_str(out, self.auth_response);
        } else if has(caps, CLIENT_SECURE_CONNECTION) {
            let n = u8::try_from(self.auth_response.len())
                .map_err(|_| Error::local(ErrorKind::MessageTooLarge, ctx))?;
            out.push(n);
            out.extend_from_slice(self.auth_response);
        } else {
            put_cstr(out, self.auth_response, ctx)?;
        }
        if has(caps, CLIENT_CONNECT_WITH_DB) {
            put_cstr(out, self.database.unwrap_or_default(), ctx)?;
        }
        if has(caps, CLIENT_PLUGIN_AUTH) {
            put_cstr(out, self.auth_plugin.unwrap_or_default(), ctx)?;
        }
        if has(caps, CLIENT_CONNECT_ATTRS) {
            put_lenenc_str(out, self.attributes.map_or(&[][..], |a| a.raw));
        }
        if let (true, Some(level)) = (has(caps, CLIENT_ZSTD_COMPRESSION), self.zstd_level) {
            out.push(level);
        }
        Ok(())
    }
}

/// Connection attributes: length-encoded key/value pairs, validated once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Attributes<'a> {
    raw: &'a [u8],
}

impl<'a> Attributes<'a> {
    fn try_parse(raw: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(raw, "connection attributes");
        while !r.is_empty() {
            r.lenenc_str()?;
            r.lenenc_str()?;
        }
        Ok(Attributes { raw })
    }

    /// The encoded pairs (without the total length).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let mut r = Reader::new(self.raw, "connection attributes");
        core::iter::from_fn(move || {
            if r.is_empty() {
                return None;
            }
            Some((r.lenenc_str().ok()?, r.lenenc_str().ok()?))
        })
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// Encodes attribute pairs (for the gateway's own upstream login).
pub fn encode_attributes(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        put_lenenc_str(&mut out, k);
        put_lenenc_str(&mut out, v);
    }
    out
}

/// Validates encoded attribute pairs and wraps them.
pub fn attributes_from(raw: &[u8]) -> Result<Attributes<'_>, Error> {
    Attributes::try_parse(raw)
}
