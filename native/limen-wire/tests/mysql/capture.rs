//! A real session: the mariadb 10.11 CLI against MariaDB 10.11 without TLS
//! (tests/data/record_mysql.py), running
//! `-D mysql -e "SELECT 1 AS a, NULL AS b, 'abc' AS c, REPEAT('x', 300) AS d;
//! USE information_schema; SELECT table_name FROM tables WHERE
//! table_schema='mysql' ORDER BY 1 LIMIT 3; SELECT * FROM nope; ..."`
//! (the CLI stops at the error).
use crate::R;
use limen_wire::mysql::caps::{
    has, CLIENT_CONNECT_ATTRS, CLIENT_DEPRECATE_EOF, CLIENT_PLUGIN_AUTH,
};
use limen_wire::mysql::generic::ErrPacket;
use limen_wire::mysql::resultset::{Action, Rewrite};
use limen_wire::mysql::{
    ClientHello, ColumnDefinition, Command, Expect, HandshakeV10, Kind, Limits, OkPacket,
    PacketDecoder, ResponseTracker, TextRow, TextRowRewriter,
};
use std::path::PathBuf;

fn fixture(name: &str) -> Result<Vec<u8>, std::io::Error> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
}

/// Every packet of a stream, payload and raw, checking that they add up.
/// Payloads with their sequence ids.
type Packets = Vec<(Vec<u8>, u8)>;

fn packets(bytes: &[u8]) -> Result<Packets, Box<dyn std::error::Error>> {
    let mut d = PacketDecoder::new(Limits::default());
    d.ignore_sequence();
    d.set_authenticated();
    let mut out = Vec::new();
    let mut rebuilt = Vec::new();
    for chunk in bytes.chunks(37) {
        d.receive_data(chunk)?;
        while let Some(p) = d.next_packet()? {
            rebuilt.extend_from_slice(p.raw());
            out.push((p.payload().to_vec(), p.seq()));
        }
    }
    assert_eq!(d.pending(), 0);
    assert_eq!(rebuilt, bytes);
    Ok(out)
}

#[test]
fn mariadb_cli_session_decodes_completely() -> R {
    let fe = packets(&fixture("mariadb_cli.fe.bin")?)?;
    let be = packets(&fixture("mariadb_cli.be.bin")?)?;

    // The greeting and the login.
    let hello = HandshakeV10::try_parse(&be[0].0)?;
    assert!(hello.server_version.starts_with(b"5.5.5-10.11"));
    assert_eq!(hello.scramble.len(), 20);
    assert_eq!(hello.auth_plugin, b"mysql_native_password");
    assert!(has(hello.capabilities, CLIENT_PLUGIN_AUTH));
    let mut again = Vec::new();
    hello.try_encode(&mut again)?;
    assert_eq!(again, be[0].0, "greeting re-encodes to the same bytes");

    let ClientHello::Response(resp) = ClientHello::try_parse(&fe[0].0)? else {
        return Err("expected a HandshakeResponse41".into());
    };
    assert_eq!(fe[0].1, 1);
    assert_eq!(resp.username, b"root");
    assert_eq!(resp.auth_response, b"", "root has an empty password");
    assert_eq!(resp.database, Some(&b"mysql"[..]));
    assert_eq!(resp.auth_plugin, Some(&b"mysql_native_password"[..]));
    let attrs = resp.attributes.ok_or("no attributes")?;
    assert!(has(resp.head.capabilities, CLIENT_CONNECT_ATTRS));
    assert_eq!(attrs.get(b"_client_name"), Some(&b"libmariadb"[..]));
    assert_eq!(attrs.get(b"program_name"), Some(&b"mysql"[..]));
    let mut again = Vec::new();
    resp.try_encode(&mut again)?;
    assert_eq!(again, fe[0].0, "response re-encodes to the same bytes");

    let caps = hello.capabilities & resp.head.capabilities;
    assert!(!has(caps, CLIENT_DEPRECATE_EOF));
    let ok = OkPacket::try_parse(&be[1].0, caps)?;
    assert_eq!((be[1].1, ok.affected_rows), (2, 0));

    // The commands, each answered as the tracker says.
    let mut server = be[2..].iter();
    let mut texts = Vec::new();
    let mut rows: Vec<Vec<Option<Vec<u8>>>> = Vec::new();
    let mut columns: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut errors = Vec::new();
    let mut rw = TextRowRewriter::new(1 << 20);
    for (payload, seq) in &fe[1..] {
        assert_eq!(*seq, 0, "every command starts at 0");
        let cmd = Command::try_parse(payload, caps)?;
        let expect = match &cmd {
            Command::Query { sql } => {
                texts.push(String::from_utf8(sql.to_vec())?);
                Expect::Query
            }
            Command::InitDb { schema } => {
                texts.push(format!("INIT_DB {}", String::from_utf8(schema.to_vec())?));
                Expect::Ok
            }
            Command::Quit => continue,
            other => return Err(format!("unexpected command {other:?}").into()),
        };
        let mut t = ResponseTracker::new(expect, caps);
        let mut want_seq = 1u8;
        while !t.is_done() {
            let (p, s) = server.next().ok_or("response cut short")?;
            assert_eq!(*s, want_seq);
            want_seq += 1;
            match t.on_packet(p)? {
                Kind::ColumnDefinition => {
                    let c = ColumnDefinition::try_parse(p, caps)?;
                    let mut again = Vec::new();
                    c.encode(&mut again);
                    assert_eq!(&again, p);
                    columns.push((c.org_table.to_vec(), c.name.to_vec()));
                }
                Kind::TextRow => {
                    let n = usize::try_from(t.columns())?;
                    let row = TextRow::try_parse(p, n)?;
                    rows.push(row.iter().map(|v| v.map(<[u8]>::to_vec)).collect());
                    // Mask every non-NULL value: the row is re-framed with
                    // the same sequence id and parses back.
                    let mut out = Vec::new();
                    let (r, next) = rw.try_rewrite(p, n, *s, &mut out, |_, v, buf| {
                        if v.is_some() {
                            buf.extend_from_slice(b"***");
                            Action::Replace
                        } else {
                            Action::Keep
                        }
                    })?;
                    assert_eq!(next, s.wrapping_add(1));
                    if r == Rewrite::Changed {
                        assert_eq!(out[3], *s);
                        let masked = TextRow::try_parse(&out[4..], n)?;
                        assert!(masked.iter().all(|v| v.is_none() || v == Some(b"***")));
                    }
                }
                Kind::Err => {
                    if let ErrPacket::Error {
                        code, sql_state, ..
                    } = ErrPacket::try_parse(p)?
                    {
                        errors.push((code, sql_state));
                    }
                }
                _ => {}
            }
        }
    }
    assert!(server.next().is_none(), "no server packet left over");
    assert!(texts.contains(&"SELECT 1 AS a, NULL AS b, 'abc' AS c, REPEAT('x', 300) AS d".into()));
    assert!(texts.contains(&"INIT_DB information_schema".into()));
    assert!(texts.contains(&"SELECT * FROM nope".into()));
    let long = b"x".repeat(300);
    assert!(rows.contains(&vec![
        Some(b"1".to_vec()),
        None,
        Some(b"abc".to_vec()),
        Some(long)
    ]));
    assert!(rows.contains(&vec![Some(b"columns_priv".to_vec())]));
    assert!(columns.contains(&(b"TABLES".to_vec(), b"table_name".to_vec())));
    assert_eq!(errors, vec![(1109, Some(*b"42S02"))]);
    Ok(())
}
