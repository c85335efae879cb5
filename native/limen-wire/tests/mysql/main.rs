//! MySQL protocol tests: byte vectors from the protocol documentation and
//! from a real MariaDB 10.11 session (tests/data/mariadb_cli.*.bin), auth
//! proofs against independent implementations, property round trips.
pub type R = Result<(), Box<dyn std::error::Error>>;

mod auth;
mod binary;
mod capture;
mod framing;
mod names;
mod packets;
mod props;
mod relay;
mod relay_commands;
mod relay_props;
mod relay_util;
mod tracker;

/// Decodes hex with spaces and newlines.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| {
            let v = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            v(p[0]) << 4 | v(p[1])
        })
        .collect()
}

/// Frames one payload with a sequence id.
pub fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    limen_wire::mysql::write_packet(&mut out, seq, payload);
    out
}
