//! Real sessions captured from psql and pgbench against PostgreSQL 15
//! (tests/data/record.sh): both directions must decode completely, frame by
//! frame back to the same bytes, with the messages each client is known to
//! exchange; DataRows in them go through the rewriter.
use limen_wire::pg::backend::{field, TransactionStatus};
use limen_wire::pg::{
    Action, BackendDecoder, BackendMessage, FrontendDecoder, FrontendMessage, Limits, Rewrite,
    RowRewriter,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

type R = Result<(), Box<dyn std::error::Error>>;
/// Message kinds with counts, and the SQL texts sent.
type Frontend = (BTreeMap<String, usize>, Vec<String>);

fn fixture(name: &str) -> Result<Vec<u8>, std::io::Error> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
}

/// Decodes the client stream; returns the message kinds (Debug name prefix)
/// with counts and the query texts.
fn frontend(name: &str) -> Result<Frontend, Box<dyn std::error::Error>> {
    let bytes = fixture(name)?;
    let mut d = FrontendDecoder::new(Limits::default());
    let mut kinds = BTreeMap::new();
    let mut texts = Vec::new();
    let mut rebuilt = Vec::new();
    for chunk in bytes.chunks(97) {
        d.receive_data(chunk)?;
        while let Some((f, m)) = d.next_message()? {
            rebuilt.extend_from_slice(f.raw());
            let dbg = format!("{m:?}");
            let kind = dbg.split(['(', ' ', '{']).next().unwrap_or("").to_owned();
            *kinds.entry(kind).or_insert(0) += 1;
            match m {
                FrontendMessage::Query(q) => texts.push(String::from_utf8(q.sql.to_vec())?),
                FrontendMessage::Parse(p) => texts.push(String::from_utf8(p.query.to_vec())?),
                _ => {}
            }
        }
    }
    assert_eq!(d.pending(), 0, "{name}: leftover bytes");
    assert_eq!(rebuilt, bytes, "{name}: frames must add up to the stream");
    Ok((kinds, texts))
}

struct Backend {
    kinds: BTreeMap<String, usize>,
    statuses: Vec<TransactionStatus>,
    sqlstates: Vec<String>,
    notifications: Vec<(String, String)>,
    masked_rows: usize,
}

/// Decodes the server stream and masks every DataRow column containing '@'.
fn backend(name: &str) -> Result<Backend, Box<dyn std::error::Error>> {
    let bytes = fixture(name)?;
    let mut d = BackendDecoder::new(Limits::default());
    let mut out = Backend {
        kinds: BTreeMap::new(),
        statuses: Vec::new(),
        sqlstates: Vec::new(),
        notifications: Vec::new(),
        masked_rows: 0,
    };
    let mut rebuilt = Vec::new();
    let mut rw = RowRewriter::default();
    let mut masked = Vec::new();
    for chunk in bytes.chunks(61) {
        d.receive_data(chunk)?;
        while let Some((f, m)) = d.next_message()? {
            rebuilt.extend_from_slice(f.raw());
            let dbg = format!("{m:?}");
            let kind = dbg.split(['(', ' ', '{']).next().unwrap_or("").to_owned();
            *out.kinds.entry(kind).or_insert(0) += 1;
            match m {
                BackendMessage::ReadyForQuery(s) => out.statuses.push(s),
                BackendMessage::ErrorResponse(e) => out.sqlstates.push(String::from_utf8(
                    e.get(field::CODE).unwrap_or_default().to_vec(),
                )?),
                BackendMessage::NotificationResponse(n) => out.notifications.push((
                    String::from_utf8(n.channel.to_vec())?,
                    String::from_utf8(n.payload.to_vec())?,
                )),
                BackendMessage::DataRow(row) => {
                    masked.clear();
                    let r = rw.try_rewrite(f.body(), &mut masked, |_, v, s| match v {
                        Some(v) if v.contains(&b'@') => {
                            s.extend_from_slice(b"***");
                            Action::Replace
                        }
                        _ => Action::Keep,
                    })?;
                    let had_at = row.values.iter().flatten().any(|v| v.contains(&b'@'));
                    assert_eq!(r == Rewrite::Changed, had_at);
                    if r == Rewrite::Changed {
                        out.masked_rows += 1;
                        let mut check = BackendDecoder::default();
                        check.receive_data(&masked)?;
                        let Some((_, BackendMessage::DataRow(m))) = check.next_message()? else {
                            return Err("rewritten row does not decode".into());
                        };
                        assert_eq!(m.values.len(), row.values.len());
                        assert!(m.values.iter().flatten().all(|v| !v.contains(&b'@')));
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(d.pending(), 0, "{name}: leftover bytes");
    assert_eq!(rebuilt, bytes, "{name}: frames must add up to the stream");
    Ok(out)
}

fn count(kinds: &BTreeMap<String, usize>, k: &str) -> usize {
    kinds.get(k).copied().unwrap_or(0)
}

#[test]
fn psql_simple_protocol_session() -> R {
    let (fe, texts) = frontend("psql_simple-0.fe.bin")?;
    assert_eq!(count(&fe, "Startup"), 1);
    assert_eq!(count(&fe, "Terminate"), 1);
    assert_eq!(
        count(&fe, "CopyData"),
        1,
        "psql sends the two COPY rows in one CopyData"
    );
    assert_eq!(count(&fe, "CopyDone"), 1);
    let script = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/session.sql"),
    )?;
    let statements = script
        .lines()
        .filter(|l| l.ends_with(';') || l.ends_with("\\gx"))
        .count();
    assert_eq!(count(&fe, "Query"), statements);
    assert!(texts.iter().any(|t| t.contains("NOTIFY fixture_channel")));

    let be = backend("psql_simple-0.be.bin")?;
    assert_eq!(count(&be.kinds, "Authentication"), 1);
    assert_eq!(count(&be.kinds, "BackendKeyData"), 1);
    assert!(count(&be.kinds, "ParameterStatus") >= 10);
    assert_eq!(count(&be.kinds, "NoticeResponse"), 1);
    assert_eq!(count(&be.kinds, "CopyInResponse"), 1);
    assert_eq!(count(&be.kinds, "CopyOutResponse"), 1);
    assert_eq!(count(&be.kinds, "CopyData"), 4);
    assert!(count(&be.kinds, "DataRow") >= 200);
    assert_eq!(be.sqlstates, vec!["42P01", "22012"]);
    assert_eq!(
        be.notifications,
        vec![("fixture_channel".to_owned(), "payload".to_owned())]
    );
    assert!(
        be.statuses.contains(&TransactionStatus::Failed),
        "the failed transaction block"
    );
    assert_eq!(be.statuses.len(), count(&fe, "Query") + 1);
    assert_eq!(be.masked_rows, 2, "ada@ and bob@ rows");
    Ok(())
}

#[test]
fn pgbench_extended_protocol_sessions() -> R {
    for mode in ["extended", "prepared"] {
        let (fe, texts) = frontend(&format!("pgbench_{mode}-1.fe.bin"))?;
        assert_eq!(count(&fe, "Bind"), 5, "{mode}: one Bind per transaction");
        assert_eq!(count(&fe, "Execute"), 5);
        let parses = count(&fe, "Parse");
        assert_eq!(parses, if mode == "prepared" { 1 } else { 5 }, "{mode}");
        // PQprepare syncs its own Parse.
        assert_eq!(count(&fe, "Sync"), if mode == "prepared" { 6 } else { 5 });
        assert!(texts
            .iter()
            .any(|t| t.contains("FROM pgbench_accounts WHERE aid = $1")));
        let be = backend(&format!("pgbench_{mode}-1.be.bin"))?;
        assert_eq!(count(&be.kinds, "BindComplete"), 5);
        assert_eq!(count(&be.kinds, "DataRow"), 5);
        assert_eq!(count(&be.kinds, "ParseComplete"), parses);
        // The setup connection uses the simple protocol.
        let (fe0, _) = frontend(&format!("pgbench_{mode}-0.fe.bin"))?;
        assert!(count(&fe0, "Query") >= 1);
        assert!(backend(&format!("pgbench_{mode}-0.be.bin"))?
            .sqlstates
            .is_empty());
    }
    Ok(())
}
