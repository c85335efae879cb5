//! The response tracker through each documented response shape.
use crate::R;
use limen_wire::mysql::caps::*;
use limen_wire::mysql::generic::{EofPacket, OkPacket};
use limen_wire::mysql::resultset::encode_text_row;
use limen_wire::mysql::{ColumnDefinition, Expect, Kind, ResponseTracker};

fn coldef() -> Vec<u8> {
    let mut p = Vec::new();
    ColumnDefinition {
        catalog: b"def",
        name: b"x",
        ..Default::default()
    }
    .encode(&mut p);
    p
}

fn eof(status: u16) -> Vec<u8> {
    let mut p = Vec::new();
    EofPacket {
        warnings: 0,
        status,
    }
    .encode(&mut p);
    p
}

fn ok(header: u8, status: u16, caps: u64) -> Vec<u8> {
    let mut p = Vec::new();
    OkPacket {
        header,
        status,
        ..Default::default()
    }
    .encode(&mut p, caps);
    p
}

fn row(v: &[Option<&[u8]>]) -> Vec<u8> {
    let mut p = Vec::new();
    encode_text_row(&mut p, v);
    p
}

fn run(
    t: &mut ResponseTracker,
    packets: &[Vec<u8>],
) -> Result<Vec<Kind>, Box<dyn std::error::Error>> {
    let mut kinds = Vec::new();
    for p in packets {
        assert!(!t.is_done());
        kinds.push(t.on_packet(p)?);
    }
    assert!(t.is_done());
    Ok(kinds)
}

#[test]
fn text_result_sets_with_and_without_eof() -> R {
    let caps = CLIENT_PROTOCOL_41;
    let mut t = ResponseTracker::new(Expect::Query, caps);
    let kinds = run(
        &mut t,
        &[
            vec![2],
            coldef(),
            coldef(),
            eof(2),
            row(&[Some(b"1"), None]),
            eof(2),
        ],
    )?;
    assert_eq!(
        kinds,
        [
            Kind::ColumnCount(2),
            Kind::ColumnDefinition,
            Kind::ColumnDefinition,
            Kind::ColumnsEnd,
            Kind::TextRow,
            Kind::RowsEnd { status: 2 }
        ]
    );
    let caps = caps | CLIENT_DEPRECATE_EOF;
    let mut t = ResponseTracker::new(Expect::Query, caps);
    let kinds = run(
        &mut t,
        &[vec![1], coldef(), row(&[Some(b"\xfe")]), ok(0xfe, 2, caps)],
    )?;
    assert_eq!(kinds[2], Kind::TextRow);
    assert_eq!(kinds[3], Kind::RowsEnd { status: 2 });
    Ok(())
}

#[test]
fn multi_results_errors_and_infile() -> R {
    let caps = CLIENT_PROTOCOL_41;
    let more = SERVER_MORE_RESULTS_EXISTS | 2;
    // OK (with more), a result set (with more), an ERR ends it all.
    let mut t = ResponseTracker::new(Expect::Query, caps);
    let err = b"\xff\x48\x04#HY000No tables used".to_vec();
    let kinds = run(
        &mut t,
        &[
            ok(0, more, caps),
            vec![1],
            coldef(),
            eof(more),
            eof(more),
            err,
        ],
    )?;
    assert_eq!(kinds[0], Kind::Ok { status: more });
    assert_eq!(kinds[4], Kind::RowsEnd { status: more });
    assert_eq!(kinds[5], Kind::Err);
    // LOCAL INFILE: the request, the client's answer, then OK.
    let mut t = ResponseTracker::new(Expect::Query, caps);
    assert_eq!(t.on_packet(b"\xfb/etc/passwd")?, Kind::LocalInfile);
    assert!(
        t.on_packet(&ok(0, 2, caps)).is_err(),
        "OK before the client answered"
    );
    let mut t = ResponseTracker::new(Expect::Query, caps);
    t.on_packet(b"\xfb/etc/passwd")?;
    t.infile_sent();
    assert_eq!(run(&mut t, &[ok(0, 2, caps)])?, [Kind::Ok { status: 2 }]);
    // LOCAL INFILE is only a COM_QUERY answer.
    let mut t = ResponseTracker::new(Expect::Execute, caps);
    assert!(t.on_packet(b"\xfbx").is_err());
    // Binary rows for COM_STMT_EXECUTE.
    let mut t = ResponseTracker::new(Expect::Execute, caps);
    let kinds = run(&mut t, &[vec![1], coldef(), eof(2), vec![0, 0, 1], eof(2)])?;
    assert_eq!(kinds[3], Kind::BinaryRow);
    // A column count of 0 or an empty packet is a protocol error.
    assert!(ResponseTracker::new(Expect::Query, caps)
        .on_packet(&[])
        .is_err());
    assert!(ResponseTracker::new(Expect::Ok, caps)
        .on_packet(&[1])
        .is_err());
    Ok(())
}

fn prepare_ok(params: u16, columns: u16) -> Vec<u8> {
    let mut p = vec![0, 7, 0, 0, 0];
    p.extend_from_slice(&columns.to_le_bytes());
    p.extend_from_slice(&params.to_le_bytes());
    p.extend_from_slice(&[0, 0, 0]);
    p
}

#[test]
fn prepare_responses() -> R {
    for deprecate in [false, true] {
        let caps = CLIENT_PROTOCOL_41 | if deprecate { CLIENT_DEPRECATE_EOF } else { 0 };
        for (params, columns) in [(0u16, 0u16), (2, 0), (0, 3), (1, 1)] {
            let mut packets = vec![prepare_ok(params, columns)];
            for _ in 0..params {
                packets.push(coldef());
            }
            if params > 0 && !deprecate {
                packets.push(eof(2));
            }
            for _ in 0..columns {
                packets.push(coldef());
            }
            if columns > 0 && !deprecate {
                packets.push(eof(2));
            }
            let mut t = ResponseTracker::new(Expect::Prepare, caps);
            let kinds = run(&mut t, &packets)?;
            assert_eq!(
                kinds[0],
                Kind::PrepareOk {
                    statement_id: 7,
                    columns,
                    params
                }
            );
            let defs = kinds
                .iter()
                .filter(|k| **k == Kind::ParamDefinition)
                .count();
            assert_eq!(defs, usize::from(params));
        }
    }
    let mut t = ResponseTracker::new(Expect::FieldList, CLIENT_PROTOCOL_41);
    let kinds = run(&mut t, &[coldef(), coldef(), eof(2)])?;
    assert_eq!(kinds.len(), 3);
    let mut t = ResponseTracker::new(Expect::Raw, CLIENT_PROTOCOL_41);
    assert_eq!(run(&mut t, &[b"Uptime: 5".to_vec()])?, [Kind::Raw]);
    Ok(())
}

#[test]
fn cached_metadata_skips_the_definitions() -> R {
    let caps = CLIENT_PROTOCOL_41 | MARIADB_CLIENT_CACHE_METADATA;
    let mut t = ResponseTracker::new(Expect::Execute, caps);
    let kinds = run(&mut t, &[vec![1, 0], vec![0, 0, 1], eof(2)])?;
    assert_eq!(
        kinds,
        [
            Kind::ColumnCount(1),
            Kind::BinaryRow,
            Kind::RowsEnd { status: 2 }
        ]
    );
    Ok(())
}
