//! Against the local PostgreSQL (127.0.0.1:5432, user postgres, trust): the
//! crate's encoders and decoders drive a real session over TCP, the
//! extended protocol's RowDescription gives real table OIDs and attribute
//! numbers for column masking, CancelRequest cancels a real query, and the
//! SCRAM and md5 clients are checked against the verifiers PostgreSQL
//! itself stores for a role.
//!
//! pg_hba here allows only trust on 127.0.0.1, so a full SCRAM login cannot
//! be made; instead this test plays the server side with PostgreSQL's own
//! StoredKey/ServerKey from pg_authid, which is the check the server would do.
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use limen_wire::pg::auth::{md5_password, AuthPolicy, AuthStep, UpstreamAuth};
use limen_wire::pg::backend::{field, Authentication, TransactionStatus};
use limen_wire::pg::frontend::{
    Bind, CancelRequest, Describe, Execute, Parse, ProtocolVersion, Query, StartupMessage,
    TargetKind,
};
use limen_wire::pg::{
    Action, BackendDecoder, BackendMessage, FrontendMessage, Limits, Rewrite, RowRewriter,
};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;

type R = Result<(), Box<dyn std::error::Error>>;
type E = Box<dyn std::error::Error>;

/// A message received, owned: type byte and body.
struct Msg {
    tag: u8,
    body: Vec<u8>,
}

impl Msg {
    fn parse(&self) -> Result<BackendMessage<'_>, limen_wire::Error> {
        BackendMessage::try_parse(self.tag, &self.body)
    }
}

struct Conn {
    sock: TcpStream,
    dec: BackendDecoder,
    key: (i32, Vec<u8>),
}

impl Conn {
    fn open() -> Result<Conn, E> {
        let sock = TcpStream::connect("127.0.0.1:5432")
            .map_err(|e| format!("the local PostgreSQL on 127.0.0.1:5432 is required: {e}"))?;
        let mut c = Conn {
            sock,
            dec: BackendDecoder::new(Limits::default()),
            key: (0, Vec::new()),
        };
        let mut out = Vec::new();
        StartupMessage {
            version: ProtocolVersion::V3_0,
            params: vec![
                (b"user", b"postgres"),
                (b"database", b"postgres"),
                (b"application_name", b"limen-wire-test"),
            ],
        }
        .try_encode(&mut out)?;
        c.sock.write_all(&out)?;
        let mut auth = UpstreamAuth::new(b"postgres", b"", "bm9uY2U", AuthPolicy::default());
        let msgs = c.until_ready()?;
        let mut authenticated = false;
        for m in &msgs {
            match m.parse()? {
                BackendMessage::Authentication(a) => {
                    authenticated = auth.try_handle(&a)? == AuthStep::Authenticated;
                }
                BackendMessage::BackendKeyData(k) => c.key = (k.process_id, k.secret_key.to_vec()),
                _ => {}
            }
        }
        assert!(authenticated, "trust login must end in AuthenticationOk");
        assert_eq!(c.key.1.len(), 4);
        Ok(c)
    }

    fn send(&mut self, m: &FrontendMessage<'_>) -> R {
        let mut out = Vec::new();
        m.try_encode(&mut out)?;
        self.sock.write_all(&out)?;
        Ok(())
    }

    /// Reads messages up to and including ReadyForQuery.
    fn until_ready(&mut self) -> Result<Vec<Msg>, E> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(f) = self.dec.next_frame()? {
                let tag = f.tag().ok_or("untagged")?;
                got.push(Msg {
                    tag,
                    body: f.body().to_vec(),
                });
                if tag == b'Z' {
                    return Ok(got);
                }
            }
            let n = self.sock.read(&mut buf)?;
            if n == 0 {
                return Err("server closed the connection".into());
            }
            self.dec.receive_data(&buf[..n])?;
        }
    }

    fn simple(&mut self, sql: &str) -> Result<Vec<Msg>, E> {
        self.send(&FrontendMessage::Query(Query {
            sql: sql.as_bytes(),
        }))?;
        let msgs = self.until_ready()?;
        for m in &msgs {
            if let BackendMessage::ErrorResponse(e) = m.parse()? {
                let text = String::from_utf8_lossy(e.message().unwrap_or_default()).into_owned();
                return Err(format!("{sql}: {text}").into());
            }
        }
        Ok(msgs)
    }

    /// The first column of the first row of a simple query, as text.
    fn scalar(&mut self, sql: &str) -> Result<String, E> {
        for m in self.simple(sql)? {
            if let BackendMessage::DataRow(r) = m.parse()? {
                let v = r.values.get(0).flatten().ok_or("NULL")?;
                return Ok(String::from_utf8(v.to_vec())?);
            }
        }
        Err(format!("{sql}: no row").into())
    }

    fn close(mut self) -> R {
        self.send(&FrontendMessage::Terminate)?;
        Ok(())
    }
}

#[test]
fn extended_protocol_row_description_drives_column_masking() -> R {
    let mut c = Conn::open()?;
    c.simple("CREATE TEMP TABLE users (id int, name text, email text)")?;
    c.simple("INSERT INTO users VALUES (1, 'ada', 'ada@example.com'), (2, 'bob', NULL)")?;
    let oid: u32 = c.scalar("SELECT 'users'::regclass::oid")?.parse()?;
    let email_attnum: i16 = c.scalar("SELECT attnum FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email'")?.parse()?;

    let mut out = Vec::new();
    Parse::encode_parts(
        b"q",
        b"SELECT id, email, name, 42 AS n FROM users WHERE id >= $1 ORDER BY id",
        &[23],
        &mut out,
    )?;
    Bind::encode_parts(b"", b"q", &[], &[Some(b"1")], &[], &mut out)?;
    Describe {
        kind: TargetKind::Portal,
        name: b"",
    }
    .try_encode(&mut out)?;
    Execute {
        portal: b"",
        max_rows: 0,
    }
    .try_encode(&mut out)?;
    FrontendMessage::Sync.try_encode(&mut out)?;
    c.sock.write_all(&out)?;
    let msgs = c.until_ready()?;
    let tags: Vec<u8> = msgs.iter().map(|m| m.tag).collect();
    assert_eq!(tags, b"12TDDCZ");

    let mut map = None;
    let mut rw = RowRewriter::default();
    let mut emails = Vec::new();
    for m in &msgs {
        match m.parse()? {
            BackendMessage::RowDescription(rd) => map = Some(rd.column_map()),
            BackendMessage::DataRow(_) => {
                let map = map.as_ref().ok_or("DataRow before RowDescription")?;
                let mask: Vec<usize> = map.positions_of(oid, email_attnum).collect();
                assert_eq!(mask, vec![1], "email is column 1 of the result");
                assert_eq!(
                    map.get(3).map(|o| o.table_oid),
                    Some(0),
                    "computed column has no table"
                );
                let mut new = Vec::new();
                let r = rw.try_rewrite(&m.body, &mut new, |i, v, s| {
                    if mask.contains(&i) && v.is_some() {
                        s.extend_from_slice(b"<masked>");
                        Action::Replace
                    } else {
                        Action::Keep
                    }
                })?;
                let row = if r == Rewrite::Changed {
                    new
                } else {
                    framed(b'D', &m.body)
                };
                let mut d = BackendDecoder::default();
                d.receive_data(&row)?;
                if let Some((_, BackendMessage::DataRow(dr))) = d.next_message()? {
                    emails.push(dr.values.get(1).flatten().map(<[u8]>::to_vec));
                }
            }
            BackendMessage::ReadyForQuery(s) => assert_eq!(s, TransactionStatus::Idle),
            _ => {}
        }
    }
    assert_eq!(emails, vec![Some(b"<masked>".to_vec()), None]);
    c.close()
}

fn framed(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn cancel_request_cancels_a_running_query() -> R {
    let mut c = Conn::open()?;
    c.send(&FrontendMessage::Query(Query {
        sql: b"SELECT pg_sleep(30)",
    }))?;
    // Wait until the server reports the query as active, then cancel it.
    let mut watcher = Conn::open()?;
    let pid = c.key.0;
    let mut active = false;
    for _ in 0..200 {
        let state = watcher.scalar(&format!(
            "SELECT coalesce((SELECT state FROM pg_stat_activity WHERE pid = {pid}), 'none')"
        ))?;
        if state == "active" {
            active = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(active, "the sleeping query never became active");
    let mut cancel = Vec::new();
    CancelRequest {
        process_id: pid,
        secret_key: &c.key.1,
    }
    .try_encode(&mut cancel)?;
    let mut side = TcpStream::connect("127.0.0.1:5432")?;
    side.write_all(&cancel)?;
    let msgs = c.until_ready()?;
    let codes: Vec<Vec<u8>> = msgs
        .iter()
        .filter_map(|m| match m.parse() {
            Ok(BackendMessage::ErrorResponse(e)) => e.get(field::CODE).map(<[u8]>::to_vec),
            _ => None,
        })
        .collect();
    assert_eq!(codes, vec![b"57014".to_vec()], "query_canceled");
    watcher.close()?;
    c.close()
}

fn hmac256(key: &[u8], data: &[u8]) -> Result<Vec<u8>, E> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key)?;
    m.update(data);
    Ok(m.finalize().into_bytes().to_vec())
}

#[test]
fn scram_client_proof_verifies_against_postgres_stored_key() -> R {
    let mut c = Conn::open()?;
    let role = &format!("limen_wire_scram_probe_{}", std::process::id());
    let password = "pä ss,wörd=1";
    c.simple(&format!("DROP ROLE IF EXISTS {role}"))?;
    c.simple("SET password_encryption = 'scram-sha-256'")?;
    c.simple(&format!("CREATE ROLE {role} PASSWORD '{password}'"))?;
    let stored = c.scalar(&format!(
        "SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"
    ))?;
    c.simple(&format!("DROP ROLE {role}"))?;
    c.close()?;
    // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
    let rest = stored
        .strip_prefix("SCRAM-SHA-256$")
        .ok_or("not a SCRAM verifier")?;
    let (iter_salt, keys) = rest.split_once('$').ok_or("bad verifier")?;
    let (iterations, salt) = iter_salt.split_once(':').ok_or("bad verifier")?;
    let (stored_key, server_key) = keys.split_once(':').ok_or("bad verifier")?;
    let stored_key = B64.decode(stored_key)?;
    let server_key = B64.decode(server_key)?;

    let mut auth = UpstreamAuth::new(
        role.as_bytes(),
        password.as_bytes(),
        "Y2xpZW50bm9uY2U",
        AuthPolicy::default(),
    );
    let mut list = Vec::new();
    Authentication::encode_sasl(&[b"SCRAM-SHA-256"], &mut list)?;
    let sasl = BackendMessage::try_parse(b'R', &list[5..])?;
    let BackendMessage::Authentication(sasl) = sasl else {
        return Err("not SASL".into());
    };
    let AuthStep::Send(first) = auth.try_handle(&sasl)? else {
        return Err("no client-first".into());
    };
    // SASLInitialResponse: type, length, mechanism\0, i32 length, data.
    let data_at = 5
        + first[5..]
            .iter()
            .position(|&b| b == 0)
            .ok_or("no mechanism")?
        + 1
        + 4;
    let client_first = std::str::from_utf8(&first[data_at..])?;
    let client_first_bare = client_first.strip_prefix("n,,").ok_or("gs2 header")?;
    let client_nonce = client_first_bare.split("r=").nth(1).ok_or("no nonce")?;

    let server_first = format!("r={client_nonce}c2VydmVy,s={salt},i={iterations}");
    let AuthStep::Send(fin) =
        auth.try_handle(&Authentication::SaslContinue(server_first.as_bytes()))?
    else {
        return Err("no client-final".into());
    };
    let client_final = std::str::from_utf8(&fin[5..])?;
    let (without_proof, proof) = client_final.rsplit_once(",p=").ok_or("no proof")?;
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let client_signature = hmac256(&stored_key, auth_message.as_bytes())?;
    let client_key: Vec<u8> = B64
        .decode(proof)?
        .iter()
        .zip(&client_signature)
        .map(|(a, b)| a ^ b)
        .collect();
    assert_eq!(
        Sha256::digest(&client_key).to_vec(),
        stored_key,
        "PostgreSQL would accept this proof"
    );

    let server_final = format!(
        "v={}",
        B64.encode(hmac256(&server_key, auth_message.as_bytes())?)
    );
    assert_eq!(
        auth.try_handle(&Authentication::SaslFinal(server_final.as_bytes()))?,
        AuthStep::Wait
    );
    assert_eq!(
        auth.try_handle(&Authentication::Ok)?,
        AuthStep::Authenticated
    );
    Ok(())
}

#[test]
fn md5_response_matches_postgres_stored_hash() -> R {
    let mut c = Conn::open()?;
    let role = &format!("limen_wire_md5_probe_{}", std::process::id());
    c.simple(&format!("DROP ROLE IF EXISTS {role}"))?;
    c.simple("SET password_encryption = 'md5'")?;
    c.simple(&format!("CREATE ROLE {role} PASSWORD 'hunter2'"))?;
    let stored = c.scalar(&format!(
        "SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"
    ))?;
    c.simple(&format!("DROP ROLE {role}"))?;
    c.close()?;
    // Stored: "md5" + md5(password + user). The server expects
    // "md5" + md5(stored[3..] + salt).
    let inner = stored.strip_prefix("md5").ok_or("not an md5 hash")?;
    let salt = [0x10, 0x20, 0x30, 0x40];
    let mut expected_input = inner.as_bytes().to_vec();
    expected_input.extend_from_slice(&salt);
    let expected = format!("md5{:x}", md5::compute(&expected_input));
    assert_eq!(
        md5_password(role.as_bytes(), b"hunter2", salt),
        expected.as_bytes()
    );
    Ok(())
}
