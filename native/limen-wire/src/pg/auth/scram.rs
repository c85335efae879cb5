//! SCRAM-SHA-256 client (RFC 5802, RFC 7677), as PostgreSQL speaks it.
//!
//! A sans-IO state machine: the caller moves the messages (inside
//! SASLInitialResponse / SASLResponse and AuthenticationSASLContinue /
//! AuthenticationSASLFinal) and supplies the client nonce, so there is no
//! randomness, clock or socket in here. The server is authenticated too:
//! [`ScramClient::try_verify_server_final`] must succeed before the caller
//! believes an AuthenticationOk.
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind};

/// The mechanism without channel binding.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// The mechanism with channel binding.
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";
/// Default cap on the iteration count a server may ask for.
pub const DEFAULT_MAX_ITERATIONS: u32 = 1_000_000;

const CTX: &str = "SCRAM";

/// Channel binding choice (RFC 5802 section 6, RFC 5929).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelBinding {
    /// No TLS, or the client does not support binding (gs2 flag `n`).
    Unsupported,
    /// The client supports binding but the server did not offer the PLUS
    /// mechanism (gs2 flag `y`, which lets a server detect a downgrade).
    NotOffered,
    /// `tls-server-end-point`: the hash of the server's certificate.
    TlsServerEndPoint(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Initial,
    SentFirst,
    SentFinal { server_signature: [u8; 32] },
    Verified,
    Failed,
}

/// The client side of one SCRAM-SHA-256 exchange.
pub struct ScramClient {
    password: Vec<u8>,
    nonce: String,
    binding: ChannelBinding,
    client_first_bare: String,
    state: State,
    max_iterations: u32,
}

impl core::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScramClient")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Encodes random bytes as a SCRAM nonce (printable, no comma).
pub fn nonce_from_random(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], Error> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|_| Error::local(ErrorKind::Auth, CTX))?;
    for p in parts {
        mac.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    Ok(out)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(data));
    out
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SASLprep the password when it is valid UTF-8 and prep succeeds; else the
/// raw bytes, which is what PostgreSQL itself does.
fn normalize_password(password: &[u8]) -> Vec<u8> {
    match core::str::from_utf8(password) {
        Ok(s) => match stringprep::saslprep(s) {
            Ok(p) => p.into_owned().into_bytes(),
            Err(_) => password.to_vec(),
        },
        Err(_) => password.to_vec(),
    }
}

fn escape_username(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

fn remote(kind: ErrorKind) -> Error {
    Error::remote(kind, 0, CTX)
}

/// Reads `key=value` from the front of `parts`.
fn attr<'a>(parts: &mut core::str::Split<'a, char>, key: char) -> Result<&'a str, Error> {
    let part = parts.next().ok_or_else(|| remote(ErrorKind::Truncated))?;
    let mut chars = part.chars();
    if chars.next() != Some(key) || chars.next() != Some('=') {
        return Err(remote(ErrorKind::InvalidValue));
    }
    Ok(&part[2..])
}

/// PBKDF2-derived keys for a password and salt.
pub(crate) struct Keys {
    pub(crate) client_key: [u8; 32],
    pub(crate) server_key: [u8; 32],
}

pub(crate) fn derive_keys(password: &[u8], salt: &[u8], iterations: u32) -> Result<Keys, Error> {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted);
    Ok(Keys {
        client_key: hmac(&salted, &[b"Client Key"])?,
        server_key: hmac(&salted, &[b"Server Key"])?,
    })
}

impl ScramClient {
    /// A client for `username` (PostgreSQL ignores it and takes the user
    /// from the startup packet; pass `""`), `password`, and `nonce`, which
    /// must be fresh random printable ASCII without ',' (see
    /// [`nonce_from_random`]).
    pub fn try_new(
        username: &str,
        password: &[u8],
        nonce: &str,
        binding: ChannelBinding,
    ) -> Result<Self, Error> {
        if !valid_nonce(nonce) {
            return Err(Error::local(ErrorKind::InvalidValue, CTX));
        }
        let client_first_bare = format!("n={},r={}", escape_username(username), nonce);
        Ok(ScramClient {
            password: normalize_password(password),
            nonce: nonce.to_owned(),
            binding,
            client_first_bare,
            state: State::Initial,
            max_iterations: DEFAULT_MAX_ITERATIONS,
        })
    }

    /// Caps the iteration count a server may ask for (CPU cost per login).
    pub fn with_max_iterations(mut self, max: u32) -> Self {
        self.max_iterations = max;
        self
    }

    /// The mechanism name to put in SASLInitialResponse.
    pub fn mechanism(&self) -> &'static str {
        match self.binding {
            ChannelBinding::TlsServerEndPoint(_) => SCRAM_SHA_256_PLUS,
            _ => SCRAM_SHA_256,
        }
    }

    fn gs2_header(&self) -> &'static str {
        match self.binding {
            ChannelBinding::Unsupported => "n,,",
            ChannelBinding::NotOffered => "y,,",
            ChannelBinding::TlsServerEndPoint(_) => "p=tls-server-end-point,,",
        }
    }

    /// True once the server's signature was verified.
    pub fn is_verified(&self) -> bool {
        self.state == State::Verified
    }

    /// The client-first message (the SASLInitialResponse data).
    pub fn try_client_first(&mut self) -> Result<Vec<u8>, Error> {
        if self.state != State::Initial {
            return Err(Error::local(ErrorKind::UnexpectedMessage, CTX));
        }
        self.state = State::SentFirst;
        Ok(format!("{}{}", self.gs2_header(), self.client_first_bare).into_bytes())
    }

    /// Reads the server-first message (AuthenticationSASLContinue data) and
    /// returns the client-final message (the SASLResponse data).
    pub fn try_client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, Error> {
        if self.state != State::SentFirst {
            return Err(Error::local(ErrorKind::UnexpectedMessage, CTX));
        }
        let result = self.client_final_inner(server_first);
        match &result {
            Ok((_, sig)) => {
                self.state = State::SentFinal {
                    server_signature: *sig,
                }
            }
            Err(_) => self.state = State::Failed,
        }
        result.map(|(msg, _)| msg)
    }

    fn client_final_inner(&self, server_first: &[u8]) -> Result<(Vec<u8>, [u8; 32]), Error> {
        let text =
            core::str::from_utf8(server_first).map_err(|_| remote(ErrorKind::InvalidValue))?;
        let mut parts = text.split(',');
        let server_nonce = attr(&mut parts, 'r')?;
        let salt = attr(&mut parts, 's')?;
        let iterations = attr(&mut parts, 'i')?;
        if !valid_nonce(server_nonce)
            || server_nonce.len() <= self.nonce.len()
            || !server_nonce.starts_with(&self.nonce)
        {
            return Err(remote(ErrorKind::Auth));
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| remote(ErrorKind::InvalidValue))?;
        if salt.is_empty() {
            return Err(remote(ErrorKind::InvalidValue));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| remote(ErrorKind::InvalidValue))?;
        if iterations == 0 || iterations > self.max_iterations {
            return Err(remote(ErrorKind::InvalidValue));
        }
        let mut cbind_input = self.gs2_header().as_bytes().to_vec();
        if let ChannelBinding::TlsServerEndPoint(data) = &self.binding {
            cbind_input.extend_from_slice(data);
        }
        let without_proof = format!("c={},r={}", B64.encode(&cbind_input), server_nonce);
        let auth_message = format!("{},{},{}", self.client_first_bare, text, without_proof);
        let keys = derive_keys(&self.password, &salt, iterations)?;
        let stored_key = sha256(&keys.client_key);
        let client_signature = hmac(&stored_key, &[auth_message.as_bytes()])?;
        let mut proof = keys.client_key;
        for (p, s) in proof.iter_mut().zip(client_signature.iter()) {
            *p ^= s;
        }
        let server_signature = hmac(&keys.server_key, &[auth_message.as_bytes()])?;
        let msg = format!("{},p={}", without_proof, B64.encode(proof)).into_bytes();
        Ok((msg, server_signature))
    }

    /// Checks the server-final message (AuthenticationSASLFinal data).
    pub fn try_verify_server_final(&mut self, server_final: &[u8]) -> Result<(), Error> {
        let State::SentFinal { server_signature } = self.state.clone() else {
            return Err(Error::local(ErrorKind::UnexpectedMessage, CTX));
        };
        self.state = State::Failed;
        let text =
            core::str::from_utf8(server_final).map_err(|_| remote(ErrorKind::InvalidValue))?;
        if text.starts_with("e=") {
            return Err(remote(ErrorKind::Auth));
        }
        let mut parts = text.split(',');
        let verifier = attr(&mut parts, 'v')?;
        let verifier = B64
            .decode(verifier)
            .map_err(|_| remote(ErrorKind::InvalidValue))?;
        if !ct_eq(&verifier, &server_signature) {
            return Err(remote(ErrorKind::ServerNotVerified));
        }
        self.state = State::Verified;
        Ok(())
    }
}
