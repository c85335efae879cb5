//! The MySQL / MariaDB client/server protocol (protocol 10, 4.1+ packets).
//!
//! - [`framing`]: packets, 16 MiB continuations, sequence ids, [`Limits`].
//! - [`caps`]: capability and status flags.
//! - [`handshake`]: HandshakeV10, SSLRequest, HandshakeResponse41.
//! - [`auth`]: auth-phase packets, password proofs, [`auth::ClientAuth`].
//! - [`generic`]: OK, ERR, EOF.
//! - [`command`]: the command phase's requests.
//! - [`resultset`]: column definitions, text rows, [`resultset::TextRowRewriter`].
//! - [`binary`]: binary-protocol rows and [`binary::BinaryRowRewriter`].
//! - [`response`]: what each server packet of a response is.
//! - [`colplan`]: column plans (whole values replaced by column origin).
//! - [`relay`]: the server-side relay: a response in, masked bytes out.
//!
//! Protocol references: the MariaDB client/server protocol pages
//! (mariadb.com/kb/en/clientserver-protocol/) and the MySQL source
//! documentation (dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html).
//! Not handled: the compressed protocol, query attributes, optional result
//! set metadata and MariaDB metadata caching (never advertise those
//! capabilities: [`caps::GATEWAY_SUPPORTED`]).
pub mod auth;
pub mod binary;
pub mod caps;
mod codec;
pub mod colplan;
pub mod command;
pub mod framing;
pub mod generic;
pub mod handshake;
pub mod relay;
pub mod response;
pub mod resultset;

pub use codec::{lenenc_size, put_lenenc, put_lenenc_str};
pub use colplan::{ColumnAction, ColumnPlan};
pub use command::Command;
pub use framing::{write_packet, Limits, Packet, PacketDecoder};
pub use generic::{EofPacket, ErrPacket, OkPacket};
pub use handshake::{ClientHello, HandshakeResponse41, HandshakeV10, SslRequest};
pub use relay::{ContentMasker, RelayEvent, ServerRelay};
pub use response::{Expect, Kind, ResponseTracker};
pub use resultset::{ColumnDefinition, TextRow, TextRowRewriter};
