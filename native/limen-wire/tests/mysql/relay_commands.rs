//! The server-side relay across commands: multi-results and prepares,
//! ERR, 16 MiB re-splits, LOCAL INFILE (refused, allowed), bytes after a
//! response and misuse, cursor fetches, a new masker.
use crate::relay::{b, plan, relay, USERS};
use crate::relay_util::*;
use crate::R;
use limen_wire::mysql::binary::{types::*, BinaryValue};
use limen_wire::mysql::caps::*;
use limen_wire::mysql::framing::MAX_PHYSICAL;
use limen_wire::mysql::generic::ErrPacket;
use limen_wire::mysql::{Expect, Kind, RelayEvent, ServerRelay};
use limen_wire::ErrorKind;

#[test]
fn multi_results_ok_and_prepare_events() -> R {
    let caps = CAPS | CLIENT_MULTI_RESULTS;
    let more = SERVER_MORE_RESULTS_EXISTS;
    let mut resp = Resp::new(caps, 0);
    resp.columns(&USERS[..1])
        .text_row(&[Some(b"secret")])
        .rows_end(more)
        .ok(more, 3, 0)
        .columns(&USERS[2..])
        .text_row(&[Some(b"secret2")])
        .rows_end(more)
        .ok(SERVER_STATUS_IN_TRANS, 1, 42);
    let mut r = relay(caps);
    r.expect(Expect::Query, 0, None, None)?;
    let mut out = Vec::new();
    let events = r.try_feed(&resp.bytes, &mut out)?;
    let d = decode(&out, caps, Expect::Query, 0, &[])?;
    assert!(d.done && r.is_done());
    assert_eq!(d.text_rows, vec![vec![b("[MASKED]")], vec![b("[MASKED]2")]]);
    assert_eq!(events.len(), 4);
    assert_eq!(
        events[3],
        RelayEvent::Ok {
            status: SERVER_STATUS_IN_TRANS,
            affected_rows: 1,
            last_insert_id: 42,
            warnings: 1
        }
    );
    assert_eq!(r.status(), SERVER_STATUS_IN_TRANS);

    // COM_STMT_PREPARE: PREPARE_OK, 1 param, 2 columns (forwarded as is).
    for caps in [CAPS, CAPS_DEPRECATE] {
        let mut resp = Resp::new(caps, 0);
        let mut ok = vec![0];
        ok.extend_from_slice(&7u32.to_le_bytes());
        ok.extend_from_slice(&2u16.to_le_bytes());
        ok.extend_from_slice(&1u16.to_le_bytes());
        ok.extend_from_slice(&[0, 0, 0]);
        resp.packet(&ok);
        let defs = coldefs(&USERS);
        resp.packet(&defs[0]);
        if caps & CLIENT_DEPRECATE_EOF == 0 {
            resp.packet(&[0xfe, 0, 0, 0, 0]);
        }
        resp.packet(&defs[1]).packet(&defs[2]);
        if caps & CLIENT_DEPRECATE_EOF == 0 {
            resp.packet(&[0xfe, 0, 0, 0, 0]);
        }
        let mut r = relay(caps);
        r.expect(Expect::Prepare, 0, None, None)?;
        let mut out = Vec::new();
        let events = r.try_feed(&resp.bytes, &mut out)?;
        assert_eq!(out, resp.bytes, "prepare answers pass unchanged");
        assert!(r.is_done());
        assert_eq!(
            events,
            vec![RelayEvent::PrepareOk {
                statement_id: 7,
                params: 1,
                columns: 2
            }]
        );
    }
    Ok(())
}

#[test]
fn err_is_masked_and_reported() -> R {
    let mut err = Vec::new();
    ErrPacket::Error {
        code: 1062,
        sql_state: Some(*b"23000"),
        message: b"Duplicate entry 'secret' for key 'PRIMARY'",
    }
    .encode(&mut err);
    let mut resp = Resp::new(CAPS, 0);
    resp.packet(&err);
    let mut r = relay(CAPS);
    r.expect(Expect::Query, 0, None, None)?;
    let mut out = Vec::new();
    let events = r.try_feed(&resp.bytes, &mut out)?;
    assert!(r.is_done());
    let msg = b"Duplicate entry '[MASKED]' for key 'PRIMARY'".to_vec();
    assert_eq!(
        events,
        vec![RelayEvent::Err {
            code: 1062,
            sql_state: b"23000".to_vec(),
            message: msg.clone()
        }]
    );
    let d = decode(&out, CAPS, Expect::Query, 0, &[])?;
    assert_eq!(d.kinds, vec![Kind::Err]);
    assert!(out.windows(msg.len()).any(|w| w == msg));
    Ok(())
}

#[test]
fn rows_growing_past_16_mib_are_resplit_and_renumbered() -> R {
    // A value 8 bytes short of one full physical packet; masking grows it
    // by 2 per "secret", past 0xffffff: 2 physical packets instead of 1.
    let caps = CAPS_DEPRECATE;
    let mut big = vec![b'x'; MAX_PHYSICAL - 5 - 6];
    big.extend_from_slice(b"secret");
    let mut resp = Resp::new(caps, 3);
    resp.columns(&USERS[2..])
        .text_row(&[Some(&big)])
        .text_row(&[Some(b"after")])
        .rows_end(0);
    let mut r = ServerRelay::new(Some(TestMasker), caps, 32 << 20);
    r.expect(Expect::Query, 3, None, None)?;
    let mut out = Vec::new();
    for piece in resp.bytes.chunks(1 << 20) {
        r.try_feed(piece, &mut out)?;
    }
    assert!(r.is_done());
    let d = decode(&out, caps, Expect::Query, 3, &[])?;
    assert!(d.done);
    // column count, definition, big row (2 physical), "after", end.
    assert_eq!(d.seqs, vec![4, 5, 6, 8, 9]);
    let row = d.text_rows[0][0].as_deref().unwrap_or_default();
    assert_eq!(row.len(), big.len() + 2);
    assert!(row.ends_with(b"[MASKED]"));
    assert_eq!(d.text_rows[1], vec![b("after")]);

    // Unchanged by masking, a row of exactly 0xffffff bytes stays two
    // physical packets (the second empty) and passes byte for byte.
    let exact = vec![b'y'; MAX_PHYSICAL - 4];
    let mut resp = Resp::new(caps, 0);
    resp.columns(&USERS[2..])
        .text_row(&[Some(&exact)])
        .rows_end(0);
    let mut r = ServerRelay::new(Some(TestMasker), caps, 32 << 20);
    r.expect(Expect::Query, 0, None, None)?;
    let mut out = Vec::new();
    r.try_feed(&resp.bytes, &mut out)?;
    assert_eq!(out, resp.bytes);
    Ok(())
}

#[test]
fn local_infile_is_refused() -> R {
    let mut r = relay(CAPS);
    r.expect(Expect::Query, 0, None, None)?;
    let mut out = Vec::new();
    let events = r.try_feed(
        &[8, 0, 0, 1, 0xfb, b'/', b'e', b't', b'c', b'/', b'p', b'w'],
        &mut out,
    )?;
    assert!(out.is_empty(), "nothing of the request reaches the client");
    assert_eq!(
        events,
        vec![RelayEvent::InfileRequest {
            filename: b"/etc/pw".to_vec()
        }]
    );
    assert!(!r.is_done());
    // The server says nothing until it gets the file: bytes now are an error
    // in another relay; here, refuse.
    let up = r.refuse_infile(1148, *b"42000", b"LOCAL INFILE is not allowed")?;
    assert_eq!(up, vec![0, 0, 0, 2]);
    let mut resp = Resp::new(CAPS, 2);
    resp.ok(SERVER_STATUS_AUTOCOMMIT, 0, 0);
    let events = r.try_feed(&resp.bytes, &mut out)?;
    assert!(r.is_done());
    assert!(matches!(events.as_slice(), [RelayEvent::Ok { .. }]));
    let d = decode(&out, CAPS, Expect::Query, 0, &[])?;
    assert_eq!(d.kinds, vec![Kind::Err]);
    assert_eq!(d.seqs, vec![1]);
    assert!(out.ends_with(b"#42000LOCAL INFILE is not allowed"));
    // Refusing again, or bytes while the server should wait: errors.
    assert!(r.refuse_infile(1148, *b"42000", b"x").is_err());
    let mut r = relay(CAPS);
    r.expect(Expect::Query, 0, None, None)?;
    r.try_feed(&[2, 0, 0, 1, 0xfb, b'f'], &mut out)?;
    let err = r.try_feed(&[1, 0, 0, 2, 0], &mut out).err();
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::UnexpectedMessage));
    Ok(())
}

#[test]
fn bytes_after_the_response_and_misuse_are_errors() -> R {
    let mut resp = Resp::new(CAPS, 0);
    resp.ok(0, 0, 0).ok(0, 0, 0);
    let mut r = relay(CAPS);
    r.expect(Expect::Ok, 0, None, None)?;
    let err = r.try_feed(&resp.bytes, &mut Vec::new()).err();
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::UnexpectedMessage));
    // Poisoned after that.
    assert!(r.expect(Expect::Ok, 0, None, None).is_err());
    // Unasked bytes on an idle relay.
    let mut r = relay(CAPS);
    assert!(r.try_feed(&[1, 0, 0, 1, 0], &mut Vec::new()).is_err());
    // expect while a response is in progress; a FETCH of an unknown cursor.
    let mut r = relay(CAPS);
    r.expect(Expect::Query, 0, None, None)?;
    assert!(r.expect(Expect::Query, 0, None, None).is_err());
    let mut r = relay(CAPS);
    assert!(r.expect(Expect::Fetch, 0, None, Some(9)).is_err());
    // A wrong sequence id from the server.
    let mut r = relay(CAPS);
    r.expect(Expect::Ok, 0, None, None)?;
    let err = r
        .try_feed(&[7, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0], &mut Vec::new())
        .err();
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::BadSequence));
    Ok(())
}

#[test]
fn cursor_columns_serve_later_fetches() -> R {
    for caps in [CAPS, CAPS_DEPRECATE] {
        let cols = [
            ("shop", "users", "id", LONG),
            ("shop", "users", "email", VAR_STRING),
        ];
        let types = [LONG, VAR_STRING];
        let mut resp = Resp::new(caps, 0);
        resp.packet(&[2]);
        for d in coldefs(&cols) {
            resp.packet(&d);
        }
        // The EXECUTE opened a cursor: the columns end the response.
        resp.rows_end(SERVER_STATUS_CURSOR_EXISTS);
        let mut r = relay(caps);
        r.expect(Expect::Execute, 0, Some(plan()), Some(4))?;
        let mut out = Vec::new();
        r.try_feed(&resp.bytes, &mut out)?;
        assert!(r.is_done());
        assert_eq!(out, resp.bytes);
        let mut resp = Resp::new(caps, 0);
        resp.binary_row(
            &types,
            &[
                BinaryValue::Fixed(&1u32.to_le_bytes()),
                BinaryValue::Str(b"e@x"),
            ],
        )
        .rows_end(SERVER_STATUS_CURSOR_EXISTS | SERVER_STATUS_LAST_ROW_SENT);
        r.expect(Expect::Fetch, 0, None, Some(4))?;
        let mut out = Vec::new();
        r.try_feed(&resp.bytes, &mut out)?;
        let d = decode(&out, caps, Expect::Fetch, 0, &types)?;
        assert_eq!(d.binary_rows, vec![vec![b("\x01\0\0\0"), b("[E]")]]);
        r.forget_statement(4);
        assert!(r.expect(Expect::Fetch, 0, None, Some(4)).is_err());
    }
    Ok(())
}

#[test]
fn an_allowed_local_infile_goes_through_with_both_numberings() -> R {
    let mut r = relay(CAPS);
    r.expect(Expect::Query, 0, None, None)?;
    let mut out = Vec::new();
    let events = r.try_feed(&[4, 0, 0, 1, 0xfb, b'f', b'.', b'c'], &mut out)?;
    assert_eq!(
        events,
        vec![RelayEvent::InfileRequest {
            filename: b"f.c".to_vec()
        }]
    );
    assert!(out.is_empty());
    // Forwarding before allowing is a misuse.
    assert!(r.forward_infile(b"x").is_err());
    assert_eq!(r.allow_infile()?, vec![4, 0, 0, 1, 0xfb, b'f', b'.', b'c']);
    assert!(r.allow_infile().is_err());
    // Upstream bytes while the client sends its file: an error later on;
    // the file's packets are framed for the upstream.
    assert_eq!(
        r.forward_infile(b"1,secret\n")?,
        [&[9, 0, 0, 2][..], b"1,secret\n"].concat()
    );
    assert_eq!(r.forward_infile(b"")?, vec![0, 0, 0, 3]);
    let mut resp = Resp::new(CAPS, 3);
    resp.ok(0, 1, 0);
    let events = r.try_feed(&resp.bytes, &mut out)?;
    assert!(r.is_done());
    assert!(matches!(
        events.as_slice(),
        [RelayEvent::Ok {
            affected_rows: 1,
            ..
        }]
    ));
    assert_eq!(
        out, resp.bytes,
        "the answer continues the client's numbering (4)"
    );
    Ok(())
}

/// A config reload's masker for a live relay (`set_masker`): the next
/// result is masked by content with it (none: kept as sent), column plans
/// apply either way.
#[test]
fn a_new_masker_masks_the_next_result() -> R {
    let caps = CAPS_DEPRECATE;
    let result = || {
        let mut resp = Resp::new(caps, 0);
        resp.columns(&USERS)
            .text_row(&[Some(b"1"), Some(b"a@b.c"), Some(b"my secret!")])
            .rows_end(SERVER_STATUS_AUTOCOMMIT);
        resp.bytes
    };
    let mut r: ServerRelay<TestMasker> = ServerRelay::new(None, caps, 16 << 20);
    let mut rows = Vec::new();
    for step in 0..3 {
        match step {
            1 => r.set_masker(Some(TestMasker)),
            2 => r.set_masker(None),
            _ => {}
        }
        r.expect(Expect::Query, 0, Some(plan()), None)?;
        let mut out = Vec::new();
        r.try_feed(&result(), &mut out)?;
        assert!(r.is_done());
        rows.extend(decode(&out, caps, Expect::Query, 0, &[])?.text_rows);
    }
    assert_eq!(
        rows,
        vec![
            vec![b("1"), b("[E]"), b("my secret!")],
            vec![b("1"), b("[E]"), b("my [MASKED]!")],
            vec![b("1"), b("[E]"), b("my secret!")],
        ]
    );
    Ok(())
}
