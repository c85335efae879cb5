//! Authenticating the gateway to the upstream server with the resource's
//! credential: SCRAM-SHA-256 (`scram.rs`), md5 (`md5.rs`) or trust, driven by
//! [`UpstreamAuth`], a sans-IO state machine fed with the server's
//! Authentication messages and returning the messages to send.
use crate::error::{Error, ErrorKind};
use crate::pg::backend::Authentication;
use crate::pg::frontend::{PasswordMessage, SaslInitialResponse, SaslResponse};

mod md5;
mod scram;

pub use self::md5::md5_password;
pub use scram::{
    nonce_from_random, ChannelBinding, ScramClient, DEFAULT_MAX_ITERATIONS, SCRAM_SHA_256,
    SCRAM_SHA_256_PLUS,
};

const CTX: &str = "upstream authentication";

/// Which methods the upstream may ask for. SCRAM and trust are always
/// accepted; cleartext and md5 only when enabled.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AuthPolicy {
    /// Answer AuthenticationCleartextPassword (only over TLS, say).
    pub allow_cleartext: bool,
    /// Answer AuthenticationMD5Password.
    pub allow_md5: bool,
    /// `tls-server-end-point` hash of the upstream's certificate when the
    /// connection is TLS: enables SCRAM-SHA-256-PLUS.
    pub tls_server_end_point: Option<Vec<u8>>,
    /// Cap on the SCRAM iteration count the server may ask for.
    pub max_scram_iterations: Option<u32>,
    /// Refuse an AuthenticationOk that comes without any password exchange
    /// (a server configured for trust, or one that is not the real server).
    pub require_password: bool,
}

/// What to do after an Authentication message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthStep {
    /// Send these bytes (one complete message) to the server.
    Send(Vec<u8>),
    /// Nothing to send; wait for the next Authentication message.
    Wait,
    /// AuthenticationOk was received and is trustworthy.
    Authenticated,
}

/// The client side of the upstream authentication exchange.
#[derive(Debug)]
pub struct UpstreamAuth {
    user: Vec<u8>,
    password: Vec<u8>,
    nonce: String,
    policy: AuthPolicy,
    scram: Option<ScramClient>,
    answered: bool,
    done: bool,
}

impl UpstreamAuth {
    /// `nonce` must be fresh random printable ASCII (see [`nonce_from_random`]).
    pub fn new(user: &[u8], password: &[u8], nonce: &str, policy: AuthPolicy) -> Self {
        UpstreamAuth {
            user: user.to_vec(),
            password: password.to_vec(),
            nonce: nonce.to_owned(),
            policy,
            scram: None,
            answered: false,
            done: false,
        }
    }

    /// Handles one Authentication message from the server.
    pub fn try_handle(&mut self, auth: &Authentication<'_>) -> Result<AuthStep, Error> {
        if self.done {
            return Err(Error::remote(ErrorKind::UnexpectedMessage, 0, CTX));
        }
        let mut out = Vec::new();
        match auth {
            Authentication::Ok => {
                if let Some(s) = &self.scram {
                    if !s.is_verified() {
                        return Err(Error::remote(ErrorKind::ServerNotVerified, 0, CTX));
                    }
                }
                if self.policy.require_password && !self.answered {
                    return Err(Error::remote(ErrorKind::ServerNotVerified, 0, CTX));
                }
                self.done = true;
                return Ok(AuthStep::Authenticated);
            }
            Authentication::CleartextPassword
                if self.policy.allow_cleartext && self.scram.is_none() =>
            {
                PasswordMessage {
                    password: &self.password,
                }
                .try_encode(&mut out)?;
            }
            Authentication::Md5Password { salt }
                if self.policy.allow_md5 && self.scram.is_none() =>
            {
                let hashed = md5_password(&self.user, &self.password, *salt);
                PasswordMessage { password: &hashed }.try_encode(&mut out)?;
            }
            Authentication::Sasl(mechanisms) if self.scram.is_none() => {
                let binding = match &self.policy.tls_server_end_point {
                    Some(hash) if mechanisms.contains(SCRAM_SHA_256_PLUS.as_bytes()) => {
                        ChannelBinding::TlsServerEndPoint(hash.clone())
                    }
                    Some(_) => ChannelBinding::NotOffered,
                    None => ChannelBinding::Unsupported,
                };
                let mut client = ScramClient::try_new("", &self.password, &self.nonce, binding)?;
                if let Some(max) = self.policy.max_scram_iterations {
                    client = client.with_max_iterations(max);
                }
                if !mechanisms.contains(client.mechanism().as_bytes()) {
                    return Err(Error::remote(ErrorKind::Auth, 0, CTX));
                }
                let first = client.try_client_first()?;
                SaslInitialResponse {
                    mechanism: client.mechanism().as_bytes(),
                    data: Some(&first),
                }
                .try_encode(&mut out)?;
                self.scram = Some(client);
            }
            Authentication::SaslContinue(data) => {
                let client = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| Error::remote(ErrorKind::UnexpectedMessage, 0, CTX))?;
                let fin = client.try_client_final(data)?;
                SaslResponse { data: &fin }.try_encode(&mut out)?;
            }
            Authentication::SaslFinal(data) => {
                let client = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| Error::remote(ErrorKind::UnexpectedMessage, 0, CTX))?;
                client.try_verify_server_final(data)?;
                return Ok(AuthStep::Wait);
            }
            _ => return Err(Error::remote(ErrorKind::Auth, 0, CTX)),
        }
        self.answered = true;
        Ok(AuthStep::Send(out))
    }
}
