//! Authentication: the auth-phase packets and limen's upstream login.
//!
//! After the HandshakeResponse41 the server answers with OK, ERR,
//! AuthSwitchRequest (`0xfe` plugin-name NUL data) or AuthMoreData
//! (`0x01` data); the client answers the last two with raw packets.
//! References: MariaDB "Connection" (Authentication switch request, Plugin
//! list), MySQL `page_protocol_connection_phase_packets_protocol_auth_switch_request`,
//! `..._auth_more_data` and "caching_sha2_password information" (fast auth
//! `0x03`, perform full authentication `0x04`, request public key `0x02`).
//!
//! [`ClientAuth`] is the sans-IO client side: feed it each server packet,
//! send what it returns. RSA encryption is the caller's (Python
//! `cryptography`): [`AuthStep::RsaEncrypt`] hands over the PEM key and the
//! bytes to encrypt with OAEP.
pub mod scramble;

use crate::error::{Error, ErrorKind};
use crate::mysql::codec::{put_cstr, Reader};
use crate::mysql::generic::{ErrPacket, OkPacket, EOF, ERR, OK};
use scramble::{
    caching_sha2, clear_password, ed25519, native_password, xor_with_nonce, CACHING_SHA2_PASSWORD,
    CLIENT_ED25519, MYSQL_CLEAR_PASSWORD, MYSQL_NATIVE_PASSWORD,
};

/// Header byte of AuthMoreData.
pub const MORE_DATA: u8 = 0x01;
/// caching_sha2_password: the client asks for the server's public key.
pub const REQUEST_PUBLIC_KEY: u8 = 0x02;
/// caching_sha2_password: fast authentication succeeded.
pub const FAST_AUTH_OK: u8 = 0x03;
/// caching_sha2_password: the server wants the password itself.
pub const PERFORM_FULL_AUTH: u8 = 0x04;

/// A server packet during authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthReply<'a> {
    Ok(OkPacket<'a>),
    Err(ErrPacket<'a>),
    Switch {
        plugin: &'a [u8],
        data: &'a [u8],
    },
    /// The pre-4.1 "use old password" request (a bare `0xfe`).
    OldPasswordRequest,
    MoreData(&'a [u8]),
}

impl<'a> AuthReply<'a> {
    /// Parses a server packet of the auth phase.
    pub fn try_parse(payload: &'a [u8], caps: u64) -> Result<Self, Error> {
        match payload.first() {
            Some(&OK) => OkPacket::try_parse(payload, caps).map(AuthReply::Ok),
            Some(&ERR) => ErrPacket::try_parse(payload).map(AuthReply::Err),
            Some(&EOF) if payload.len() == 1 => Ok(AuthReply::OldPasswordRequest),
            Some(&EOF) => {
                let mut r = Reader::new(&payload[1..], "AuthSwitchRequest");
                let plugin = r.cstr()?;
                Ok(AuthReply::Switch {
                    plugin,
                    data: r.rest(),
                })
            }
            Some(&MORE_DATA) => Ok(AuthReply::MoreData(&payload[1..])),
            _ => Err(Error::remote(ErrorKind::UnexpectedMessage, 0, "auth reply")),
        }
    }
}

/// Encodes an AuthSwitchRequest payload.
pub fn encode_switch(out: &mut Vec<u8>, plugin: &[u8], data: &[u8]) -> Result<(), Error> {
    out.push(EOF);
    put_cstr(out, plugin, "AuthSwitchRequest encode")?;
    out.extend_from_slice(data);
    Ok(())
}

/// Encodes an AuthMoreData payload.
pub fn encode_more_data(out: &mut Vec<u8>, data: &[u8]) {
    out.push(MORE_DATA);
    out.extend_from_slice(data);
}

/// What the caller does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthStep {
    /// Send these bytes as the next packet's payload.
    Send(Vec<u8>),
    /// Encrypt `plaintext` with RSA-OAEP (SHA-1) under the PEM public key,
    /// then send the ciphertext as the next packet's payload.
    RsaEncrypt {
        public_key_pem: Vec<u8>,
        plaintext: Vec<u8>,
    },
    /// Nothing to send; read the next packet.
    Wait,
    /// Logged in: the server's OK status flags.
    Done { status: u16 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Sent,
    Sha2Sent,
    KeyRequested,
    FullSent,
    Finished,
}

/// The client side of one login to an upstream server.
pub struct ClientAuth {
    password: Vec<u8>,
    plugin: Vec<u8>,
    nonce: Vec<u8>,
    tls: bool,
    server_key: Option<Vec<u8>>,
    state: State,
    switched: bool,
}

impl core::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("plugin", &String::from_utf8_lossy(&self.plugin))
            .field("tls", &self.tls)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn proof(plugin: &[u8], password: &[u8], nonce: &[u8], tls: bool) -> Result<Vec<u8>, Error> {
    let n20 = nonce.get(..20).unwrap_or(nonce);
    match plugin {
        MYSQL_NATIVE_PASSWORD => Ok(native_password(password, n20)),
        CACHING_SHA2_PASSWORD => Ok(caching_sha2(password, n20)),
        CLIENT_ED25519 => match nonce.get(..32) {
            Some(n) => Ok(ed25519(password, n).to_vec()),
            None => Err(Error::remote(ErrorKind::Auth, 0, "client_ed25519 nonce")),
        },
        MYSQL_CLEAR_PASSWORD if tls => Ok(clear_password(password)),
        // Never a clear-text password without TLS, never an unknown plugin.
        _ => Err(Error::remote(ErrorKind::Auth, 0, "auth plugin")),
    }
}

impl ClientAuth {
    /// Starts a login: `plugin` and `scramble` from the greeting (the
    /// plugin also goes into the HandshakeResponse41), `tls` whether the
    /// connection is encrypted, `server_key` a configured PEM public key
    /// (saves a round trip and an unauthenticated key on plaintext links).
    /// Returns the auth response for the HandshakeResponse41.
    pub fn start(
        plugin: &[u8],
        scramble: &[u8],
        password: &[u8],
        tls: bool,
        server_key: Option<&[u8]>,
    ) -> Result<(Self, Vec<u8>), Error> {
        // An unknown default plugin: answer as native; the server switches.
        let plugin = match plugin {
            CACHING_SHA2_PASSWORD | CLIENT_ED25519 => plugin,
            _ => MYSQL_NATIVE_PASSWORD,
        };
        let first = proof(plugin, password, scramble, tls)?;
        let state = if plugin == CACHING_SHA2_PASSWORD {
            State::Sha2Sent
        } else {
            State::Sent
        };
        let auth = ClientAuth {
            password: password.to_vec(),
            plugin: plugin.to_vec(),
            nonce: scramble.to_vec(),
            tls,
            server_key: server_key.map(<[u8]>::to_vec),
            state,
            switched: false,
        };
        Ok((auth, first))
    }

    /// The plugin name to put in the HandshakeResponse41.
    pub fn plugin(&self) -> &[u8] {
        &self.plugin
    }

    fn full_auth(&mut self) -> AuthStep {
        self.state = State::FullSent;
        if self.tls {
            return AuthStep::Send(clear_password(&self.password));
        }
        let plaintext = xor_with_nonce(&self.password, self.nonce.get(..20).unwrap_or(&self.nonce));
        match &self.server_key {
            Some(key) => AuthStep::RsaEncrypt {
                public_key_pem: key.clone(),
                plaintext,
            },
            None => {
                self.state = State::KeyRequested;
                AuthStep::Send(vec![REQUEST_PUBLIC_KEY])
            }
        }
    }

    /// Handles one server packet payload of the auth phase. An ERR from the
    /// server is an `Auth` error whose context does not quote the message
    /// (read the packet yourself to relay it).
    pub fn on_packet(&mut self, payload: &[u8], caps: u64) -> Result<AuthStep, Error> {
        let err = |ctx| Error::remote(ErrorKind::Auth, 0, ctx);
        if self.state == State::Finished {
            return Err(Error::local(ErrorKind::UnexpectedMessage, "ClientAuth"));
        }
        match AuthReply::try_parse(payload, caps)? {
            AuthReply::Ok(ok) => {
                self.state = State::Finished;
                Ok(AuthStep::Done { status: ok.status })
            }
            AuthReply::Err(_) => Err(err("server refused the login")),
            AuthReply::OldPasswordRequest => Err(err("pre-4.1 password requested")),
            AuthReply::Switch { plugin, data } => {
                if self.switched {
                    return Err(err("second AuthSwitchRequest"));
                }
                self.switched = true;
                let nonce = if plugin == CLIENT_ED25519 {
                    data
                } else {
                    scramble::nonce(data)
                };
                let out = proof(plugin, &self.password, nonce, self.tls)?;
                self.plugin = plugin.to_vec();
                self.nonce = nonce.to_vec();
                self.state = if plugin == CACHING_SHA2_PASSWORD {
                    State::Sha2Sent
                } else {
                    State::Sent
                };
                Ok(AuthStep::Send(out))
            }
            AuthReply::MoreData(data) => match (self.state, data) {
                (State::Sha2Sent, [FAST_AUTH_OK]) => Ok(AuthStep::Wait),
                (State::Sha2Sent, [PERFORM_FULL_AUTH]) => Ok(self.full_auth()),
                (State::KeyRequested, pem) => {
                    self.state = State::FullSent;
                    let plaintext =
                        xor_with_nonce(&self.password, self.nonce.get(..20).unwrap_or(&self.nonce));
                    Ok(AuthStep::RsaEncrypt {
                        public_key_pem: pem.to_vec(),
                        plaintext,
                    })
                }
                _ => Err(err("unexpected AuthMoreData")),
            },
        }
    }
}
