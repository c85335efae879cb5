//! TLS sessions with their keys in native code (rustls), so that a pumped
//! session's bytes are decrypted and encrypted on the pump's thread.
//!
//! A [`TlsSession`] is created when the client asks for TLS (the server
//! side, from the listener's [`ServerConfig`]) or when the gateway opens
//! TLS to the upstream (the client side, from a [`ClientConfig`]). Until
//! the session is pumped, the host drives it sans-IO: it feeds the
//! ciphertext it receives ([`TlsSession::feed`]), reads plaintext
//! ([`TlsSession::read_plain`]), writes plaintext
//! ([`TlsSession::write_plain`]) and sends what [`TlsSession::take_tls`]
//! gives (the handshake, then records). The pump then takes the connection
//! ([`TlsSession::lend`]): the returned [`Lent`] goes back into the
//! session when the pump drops it, so the host can send its final FATAL
//! (and close_notify) on the same TLS session after the pump ended.
//!
//! [`config`] builds the configurations from PEM (the one place that reads
//! certificates and keys); the upstream verifiers follow libpq's sslmode.
pub mod config;

use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::pki_types::ServerName;
pub use rustls::{ClientConfig, ServerConfig};
use rustls::{ClientConnection, Connection, ServerConnection};

/// Plaintext the host may leave unread in a session (fed ciphertext is
/// decrypted into it): at most one feed's worth, capped.
pub const MAX_PLAIN: usize = 4 << 20;

/// A TLS failure (the message names no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn err(what: &str, e: impl std::fmt::Display) -> TlsError {
    TlsError(format!("{what}: {e}"))
}

/// What a session holds while the host drives it.
struct Inner {
    conn: Connection,
    /// Decrypted bytes not read yet (from `plain_pos`).
    plain: Vec<u8>,
    plain_pos: usize,
    /// The peer sent close_notify or closed.
    peer_closed: bool,
}

/// One TLS session (client or server side). Cloning shares it.
#[derive(Clone)]
pub struct TlsSession {
    slot: Arc<Mutex<Option<Inner>>>,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession").finish_non_exhaustive()
    }
}

impl TlsSession {
    fn new(conn: Connection) -> Self {
        TlsSession {
            slot: Arc::new(Mutex::new(Some(Inner {
                conn,
                plain: Vec::new(),
                plain_pos: 0,
                peer_closed: false,
            }))),
        }
    }

    /// The server side of a client's TLS session.
    pub fn server(cfg: &Arc<ServerConfig>) -> Result<Self, TlsError> {
        let conn = ServerConnection::new(Arc::clone(cfg)).map_err(|e| err("TLS", e))?;
        Ok(Self::new(conn.into()))
    }

    /// The client side of a TLS session to `server_name` (a DNS name or an
    /// IP address; what verify-full checks the certificate against).
    pub fn client(cfg: &Arc<ClientConfig>, server_name: &str) -> Result<Self, TlsError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| err("the upstream's server name", e))?;
        let conn = ClientConnection::new(Arc::clone(cfg), name).map_err(|e| err("TLS", e))?;
        Ok(Self::new(conn.into()))
    }

    fn lock(&self) -> Result<MutexGuard<'_, Option<Inner>>, TlsError> {
        self.slot
            .lock()
            .map_err(|_| TlsError("the TLS session's lock is poisoned".into()))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T, TlsError>) -> Result<T, TlsError> {
        let mut g = self.lock()?;
        match g.as_mut() {
            Some(inner) => f(inner),
            None => Err(TlsError("the TLS session is in the pump".into())),
        }
    }

    /// Takes in ciphertext from the peer. An error (a bad record, a failed
    /// handshake) may leave an alert in [`Self::take_tls`].
    pub fn feed(&self, mut data: &[u8]) -> Result<(), TlsError> {
        self.with(|s| {
            if data.is_empty() {
                s.peer_closed = true;
                return Ok(());
            }
            while !data.is_empty() {
                let n = s.conn.read_tls(&mut data).map_err(|e| err("TLS", e))?;
                let state = s.conn.process_new_packets().map_err(|e| err("TLS", e))?;
                s.peer_closed |= state.peer_has_closed();
                drain_plain(s)?;
                if n == 0 {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Up to `max` decrypted bytes (empty: none yet, or the peer closed:
    /// see [`Self::peer_closed`]).
    pub fn read_plain(&self, max: usize) -> Result<Vec<u8>, TlsError> {
        self.with(|s| {
            let end = (s.plain_pos + max).min(s.plain.len());
            let out = s.plain[s.plain_pos..end].to_vec();
            s.plain_pos = end;
            if s.plain_pos == s.plain.len() {
                s.plain.clear();
                s.plain_pos = 0;
            }
            Ok(out)
        })
    }

    /// Encrypts plaintext for the peer (sent with [`Self::take_tls`]).
    pub fn write_plain(&self, data: &[u8]) -> Result<(), TlsError> {
        self.with(|s| {
            s.conn.set_buffer_limit(None);
            s.conn.writer().write_all(data).map_err(|e| err("TLS", e))
        })
    }

    /// The ciphertext to send to the peer now (handshake, records, alerts).
    pub fn take_tls(&self) -> Result<Vec<u8>, TlsError> {
        self.with(|s| {
            let mut out = Vec::new();
            while s.conn.wants_write() {
                s.conn.write_tls(&mut out).map_err(|e| err("TLS", e))?;
            }
            Ok(out)
        })
    }

    /// True until the handshake is complete.
    pub fn handshaking(&self) -> Result<bool, TlsError> {
        self.with(|s| Ok(s.conn.is_handshaking()))
    }

    /// True once the peer closed (close_notify or end of stream) and every
    /// decrypted byte was read.
    pub fn peer_closed(&self) -> Result<bool, TlsError> {
        self.with(|s| Ok(s.peer_closed && s.plain_pos == s.plain.len()))
    }

    /// Queues close_notify (sent with [`Self::take_tls`]).
    pub fn close(&self) -> Result<(), TlsError> {
        self.with(|s| {
            s.conn.send_close_notify();
            Ok(())
        })
    }

    /// The negotiated protocol version, e.g. "TLSv1_3" (None: handshaking).
    pub fn version(&self) -> Result<Option<String>, TlsError> {
        self.with(|s| Ok(s.conn.protocol_version().map(|v| format!("{v:?}"))))
    }

    /// Hands the connection to the pump until the returned [`Lent`] drops.
    pub fn lend(&self) -> Result<Lent, TlsError> {
        let mut g = self.lock()?;
        let inner = g
            .take()
            .ok_or_else(|| TlsError("the TLS session is in the pump".into()))?;
        if inner.conn.is_handshaking() {
            *g = Some(inner);
            return Err(TlsError("the TLS handshake is not complete".into()));
        }
        drop(g);
        Ok(Lent {
            inner: Some(inner),
            home: Arc::clone(&self.slot),
        })
    }
}

fn drain_plain(s: &mut Inner) -> Result<(), TlsError> {
    let mut buf = [0u8; 16 << 10];
    loop {
        match s.conn.reader().read(&mut buf) {
            Ok(0) => {
                s.peer_closed = true;
                return Ok(());
            }
            Ok(n) => {
                if s.plain.len() - s.plain_pos + n > MAX_PLAIN {
                    return Err(TlsError("too much unread TLS plaintext".into()));
                }
                s.plain.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                s.peer_closed = true;
                return Ok(());
            }
            Err(e) => return Err(err("TLS", e)),
        }
    }
}

/// A session's connection while the pump holds it; back home on drop.
pub struct Lent {
    inner: Option<Inner>,
    home: Arc<Mutex<Option<Inner>>>,
}

impl Lent {
    /// The connection.
    pub fn conn(&mut self) -> Option<&mut Connection> {
        self.inner.as_mut().map(|i| &mut i.conn)
    }

    /// Plaintext the host left unread, taken (at most `buf.len()` bytes).
    pub fn take_plain(&mut self, buf: &mut [u8]) -> usize {
        let Some(s) = self.inner.as_mut() else {
            return 0;
        };
        let n = (s.plain.len() - s.plain_pos).min(buf.len());
        buf[..n].copy_from_slice(&s.plain[s.plain_pos..s.plain_pos + n]);
        s.plain_pos += n;
        if s.plain_pos == s.plain.len() {
            s.plain.clear();
            s.plain_pos = 0;
        }
        n
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(mut inner) = self.inner.take() {
            inner.conn.set_buffer_limit(None);
            if let Ok(mut g) = self.home.lock() {
                *g = Some(inner);
            }
        }
    }
}
