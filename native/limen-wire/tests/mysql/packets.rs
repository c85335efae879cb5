//! Packets against the examples of the protocol documentation (MySQL
//! source documentation pages for HandshakeV10, OK, ERR, EOF, COM_QUERY;
//! MariaDB pages for the progress report and SSLRequest) and hand-built
//! bytes for the rest.
use crate::{hex, R};
use limen_wire::mysql::caps::*;
use limen_wire::mysql::command::{code, encode_query, encode_stmt_id};
use limen_wire::mysql::generic::{end_status, is_eof_marker};
use limen_wire::mysql::handshake::{encode_attributes, HandshakeResponse41};
use limen_wire::mysql::{
    ClientHello, ColumnDefinition, Command, EofPacket, ErrPacket, HandshakeV10, OkPacket,
    SslRequest,
};
use limen_wire::ErrorKind;

#[test]
fn handshake_v10_from_the_mysql_docs() -> R {
    // protocol_handshake_v10 example: 5.5.2-m2, no CLIENT_PLUGIN_AUTH.
    let bytes = hex("36 00 00 00 0a 35 2e 35 2e 32 2d 6d 32 00 52 00
         00 00 22 3d 4e 50 29 75 39 56 00 ff ff 08 02 00
         00 00 00 00 00 00 00 00 00 00 00 00 00 29 64 40
         52 5c 55 78 7a 7c 21 29 4b 00");
    let h = HandshakeV10::try_parse(&bytes[4..])?;
    assert_eq!(h.server_version, b"5.5.2-m2");
    assert_eq!(h.connection_id, 0x52);
    assert_eq!(
        h.scramble,
        hex("22 3d 4e 50 29 75 39 56 29 64 40 52 5c 55 78 7a 7c 21 29 4b")
    );
    assert_eq!(h.capabilities, 0xffff);
    assert_eq!((h.collation, h.status), (8, 2));
    assert_eq!(h.auth_plugin, b"");
    let mut again = Vec::new();
    h.try_encode(&mut again)?;
    assert_eq!(again, &bytes[4..]);
    // A 32-byte nonce needs CLIENT_PLUGIN_AUTH to carry its length.
    let long = HandshakeV10 {
        scramble: vec![7; 32],
        ..h.clone()
    };
    assert!(long.try_encode(&mut Vec::new()).is_err());
    let long = HandshakeV10 {
        capabilities: h.capabilities | CLIENT_PLUGIN_AUTH,
        auth_plugin: b"x",
        ..long
    };
    let mut p = Vec::new();
    long.try_encode(&mut p)?;
    assert_eq!(HandshakeV10::try_parse(&p)?, long);
    Ok(())
}

#[test]
fn handshake_refuses_old_protocols_and_truncation() {
    let mut p = vec![9u8];
    p.extend_from_slice(b"3.23\0");
    assert_eq!(
        HandshakeV10::try_parse(&p).err().map(|e| e.kind()),
        Some(ErrorKind::UnsupportedProtocol)
    );
    let bytes = hex("0a 35 2e 35 00 01 00 00 00 22 3d 4e 50");
    assert_eq!(
        HandshakeV10::try_parse(&bytes).err().map(|e| e.kind()),
        Some(ErrorKind::Truncated)
    );
    // A client without PROTOCOL_41.
    let mut p = vec![0u8; 32];
    p[0] = 0x0f;
    assert_eq!(
        ClientHello::try_parse(&p).err().map(|e| e.kind()),
        Some(ErrorKind::UnsupportedProtocol)
    );
}

#[test]
fn ssl_request_and_mariadb_extended_capabilities() -> R {
    let req = SslRequest {
        capabilities: (CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION)
            | MARIADB_CLIENT_PROGRESS,
        max_packet_size: 1 << 24,
        collation: 45,
    };
    let mut p = Vec::new();
    req.encode(&mut p);
    assert_eq!(p.len(), 32);
    assert_eq!(&p[28..], &[1, 0, 0, 0], "extended caps in the last 4 bytes");
    assert_eq!(ClientHello::try_parse(&p)?, ClientHello::Ssl(req));
    // With CLIENT_MYSQL set the last 4 bytes are filler.
    let mysql = SslRequest {
        capabilities: req.capabilities | CLIENT_MYSQL,
        ..req
    };
    let mut p = Vec::new();
    mysql.encode(&mut p);
    let ClientHello::Ssl(back) = ClientHello::try_parse(&p)? else {
        return Err("not an SSL request".into());
    };
    assert_eq!(
        back.capabilities,
        req.capabilities & 0xffff_ffff | CLIENT_MYSQL
    );
    Ok(())
}

fn response(caps: u64) -> HandshakeResponse41<'static> {
    HandshakeResponse41 {
        head: SslRequest {
            capabilities: caps,
            max_packet_size: 16 << 20,
            collation: 255,
        },
        username: b"bot@example",
        auth_response: b"tok\0en",
        database: Some(b"orders"),
        auth_plugin: Some(b"caching_sha2_password"),
        attributes: None,
        zstd_level: None,
    }
}

#[test]
fn handshake_response_in_each_auth_data_form() -> R {
    let base = CLIENT_MYSQL | CLIENT_PROTOCOL_41 | CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH;
    for (caps, marker) in [
        (base | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, 6u8),
        (base | CLIENT_SECURE_CONNECTION, 6u8),
    ] {
        let r = response(caps);
        let mut p = Vec::new();
        r.try_encode(&mut p)?;
        assert_eq!(p[32 + 12], marker, "length of the auth data");
        assert_eq!(HandshakeResponse41::try_parse(&p)?, r);
    }
    // NUL-terminated auth data cannot hold a NUL: local error.
    let e = response(base)
        .try_encode(&mut Vec::new())
        .err()
        .ok_or("encoded")?;
    assert_eq!((e.kind(), e.is_remote()), (ErrorKind::InteriorNul, false));
    // Connection attributes.
    let raw = encode_attributes(&[(b"_client_name", b"limen"), (b"k", b"")]);
    let attrs = limen_wire::mysql::handshake::attributes_from(&raw)?;
    let r = HandshakeResponse41 {
        attributes: Some(attrs),
        ..response(base | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_ATTRS)
    };
    let mut p = Vec::new();
    r.try_encode(&mut p)?;
    let back = HandshakeResponse41::try_parse(&p)?;
    let pairs: Vec<_> = back.attributes.ok_or("attrs")?.iter().collect();
    assert_eq!(
        pairs,
        vec![(&b"_client_name"[..], &b"limen"[..]), (b"k", b"")]
    );
    // An attribute block that overruns is an error, never a panic.
    let mut bad = p.clone();
    let n = bad.len();
    bad[n - 1 - raw.len()] = 200;
    assert!(HandshakeResponse41::try_parse(&bad).is_err());
    Ok(())
}

#[test]
fn ok_err_eof_from_the_docs() -> R {
    // OK: 07 00 00 02 | 00 00 00 02 00 00 00 (autocommit, no warnings).
    let okb = hex("00 00 00 02 00 00 00");
    let ok = OkPacket::try_parse(&okb, CLIENT_PROTOCOL_41)?;
    assert_eq!(
        (ok.affected_rows, ok.last_insert_id, ok.status, ok.warnings),
        (0, 0, 2, 0)
    );
    let mut again = Vec::new();
    ok.encode(&mut again, CLIENT_PROTOCOL_41);
    assert_eq!(again, hex("00 00 00 02 00 00 00"));
    // ERR: ff 48 04 # HY000 No tables used.
    let errb = hex("ff 48 04 23 48 59 30 30 30 4e 6f 20 74 61 62 6c 65 73 20 75 73 65 64");
    let err = ErrPacket::try_parse(&errb)?;
    assert_eq!(
        err,
        ErrPacket::Error {
            code: 1096,
            sql_state: Some(*b"HY000"),
            message: b"No tables used"
        }
    );
    // EOF: 05 00 00 05 | fe 00 00 02 00.
    let eof = EofPacket::try_parse(&hex("fe 00 00 02 00"))?;
    assert_eq!(
        eof,
        EofPacket {
            warnings: 0,
            status: 2
        }
    );
    assert!(is_eof_marker(&hex("fe 00 00 02 00")));
    assert_eq!(end_status(&hex("fe 00 00 02 00"), 0)?, 2);
    // With DEPRECATE_EOF the end of rows is an OK with header 0xfe.
    let caps = CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF | CLIENT_SESSION_TRACK;
    assert_eq!(end_status(&hex("fe 00 00 22 00 00 00"), caps)?, 0x22);
    Ok(())
}

#[test]
fn ok_with_session_track_and_err_forms() -> R {
    let caps = CLIENT_PROTOCOL_41 | CLIENT_SESSION_TRACK;
    let ok = OkPacket {
        header: 0,
        affected_rows: 300,
        last_insert_id: 70000,
        status: SERVER_SESSION_STATE_CHANGED | SERVER_STATUS_AUTOCOMMIT,
        warnings: 1,
        info: b"Rows matched: 1",
        session_state: b"\x01\x05\x04test",
    };
    let mut p = Vec::new();
    ok.encode(&mut p, caps);
    assert_eq!(OkPacket::try_parse(&p, caps)?, ok);
    // Without CLIENT_SESSION_TRACK the info is the rest of the packet.
    let plain = OkPacket {
        status: 2,
        session_state: b"",
        ..ok
    };
    let mut p = Vec::new();
    plain.encode(&mut p, CLIENT_PROTOCOL_41);
    assert_eq!(OkPacket::try_parse(&p, CLIENT_PROTOCOL_41)?, plain);
    // A MariaDB progress report and an ERR without SQL state.
    for e in [
        ErrPacket::Progress {
            stage: 1,
            max_stage: 3,
            progress: 12_345,
            info: b"copy",
        },
        ErrPacket::Error {
            code: 1045,
            sql_state: None,
            message: b"denied",
        },
    ] {
        let mut p = Vec::new();
        e.encode(&mut p);
        assert_eq!(ErrPacket::try_parse(&p)?, e);
    }
    assert!(ErrPacket::try_parse(&hex("ff 48")).is_err());
    assert!(OkPacket::try_parse(&hex("00 fc 01"), 0).is_err());
    Ok(())
}

#[test]
fn commands() -> R {
    // COM_QUERY example from the MySQL docs.
    let q = hex(
        "03 73 65 6c 65 63 74 20 40 40 76 65 72 73 69 6f 6e 5f 63 6f 6d 6d 65 6e 74 20 6c 69 6d 69 74 20 31",
    );
    assert_eq!(
        Command::try_parse(&q, 0)?,
        Command::Query {
            sql: b"select @@version_comment limit 1"
        }
    );
    let mut p = Vec::new();
    encode_query(&mut p, b"select @@version_comment limit 1");
    assert_eq!(p, q);
    let cases: Vec<(Vec<u8>, Command<'static>)> = vec![
        (vec![0x01], Command::Quit),
        (vec![0x0e], Command::Ping),
        (vec![0x1f], Command::ResetConnection),
        (b"\x02shop".to_vec(), Command::InitDb { schema: b"shop" }),
        (
            b"\x04t1\0%".to_vec(),
            Command::FieldList {
                table: b"t1",
                wildcard: b"%",
            },
        ),
        (
            hex("0c 2a 00 00 00"),
            Command::ProcessKill { connection_id: 42 },
        ),
        (hex("1b 01 00"), Command::SetOption { option: 1 }),
        (
            b"\x16SELECT ?".to_vec(),
            Command::StmtPrepare { sql: b"SELECT ?" },
        ),
        (
            hex("17 01 00 00 00 00 01 00 00 00 01 02 03"),
            Command::StmtExecute {
                statement_id: 1,
                flags: 0,
                iterations: 1,
                params: &[1, 2, 3],
            },
        ),
        (
            hex("18 05 00 00 00 02 00 61 62"),
            Command::StmtSendLongData {
                statement_id: 5,
                param_id: 2,
                data: b"ab",
            },
        ),
        (
            hex("1c 05 00 00 00 0a 00 00 00"),
            Command::StmtFetch {
                statement_id: 5,
                rows: 10,
            },
        ),
        (
            hex("08 00"),
            Command::Other {
                code: code::SHUTDOWN,
                body: &[0],
            },
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(Command::try_parse(&bytes, 0)?, want);
        assert_eq!(Command::try_parse(&bytes, 0)?.code(), bytes[0]);
    }
    for code in [code::STMT_CLOSE, code::STMT_RESET] {
        let mut p = Vec::new();
        encode_stmt_id(&mut p, code, 9);
        let c = Command::try_parse(&p, 0)?;
        assert!(matches!(
            c,
            Command::StmtClose { statement_id: 9 } | Command::StmtReset { statement_id: 9 }
        ));
        assert_eq!(c.expects_no_response(), code == code::STMT_CLOSE);
    }
    // Truncated, trailing, empty: errors.
    for bad in [
        &hex("17 01 00")[..],
        &hex("0e 00"),
        &[],
        &hex("0c 01"),
        b"\x04nonul",
    ] {
        assert!(Command::try_parse(bad, 0).is_err(), "{bad:?}");
    }
    Ok(())
}

#[test]
fn change_user() -> R {
    let caps =
        CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS;
    let mut p = b"\x11bot\0\x05token".to_vec();
    p.extend_from_slice(b"db1\0\x21\x00caching_sha2_password\0");
    p.extend_from_slice(&[4, 1, b'k', 1, b'v']);
    let Command::ChangeUser(cu) = Command::try_parse(&p, caps)? else {
        return Err("not COM_CHANGE_USER".into());
    };
    assert_eq!(
        (cu.username, cu.auth_response, cu.database),
        (&b"bot"[..], &b"token"[..], &b"db1"[..])
    );
    assert_eq!(cu.collation, Some(0x21));
    assert_eq!(cu.auth_plugin, Some(&b"caching_sha2_password"[..]));
    assert_eq!(cu.attributes.ok_or("attrs")?.get(b"k"), Some(&b"v"[..]));
    assert!(Command::try_parse(&p[..8], caps).is_err());
    Ok(())
}

#[test]
fn column_definition_with_field_list_defaults() -> R {
    let c = ColumnDefinition {
        catalog: b"def",
        schema: b"shop",
        table: b"c",
        org_table: b"customers",
        name: b"mail",
        org_name: b"email",
        extended_type_info: None,
        charset: 45,
        column_length: 1020,
        column_type: 0xfd,
        flags: 0,
        decimals: 0,
        default_values: b"\x00",
    };
    let mut p = Vec::new();
    c.encode(&mut p);
    assert_eq!(ColumnDefinition::try_parse(&p, 0)?, c);
    let ext = ColumnDefinition {
        extended_type_info: Some(b"\x00\x04json"),
        ..c
    };
    let mut p = Vec::new();
    ext.encode(&mut p);
    assert_eq!(
        ColumnDefinition::try_parse(&p, MARIADB_CLIENT_EXTENDED_TYPE_INFO)?,
        ext
    );
    assert!(ColumnDefinition::try_parse(&p, 0).is_err());
    Ok(())
}
