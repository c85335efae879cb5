//! A config reload's masks for a live MySQL core (`MySqlMaskSwap`): the
//! relay masks the next answer with the new masker and the core records
//! it with the new flag; the decision cache is forgotten (the next
//! statement goes to the host, which judges it by the new rules and masks
//! its text); a statement prepared on a cached decision before the swap
//! keeps running here, with the swap's column plan on its results.
mod common;

use std::sync::{Arc, Mutex};

use limen_pump::mysql::{MySqlCore, MySqlMaskSwap, SharedMySqlRelay, EXECUTE_SPLIT};
use limen_pump::{CacheLimits, ClientStep, RecordKind, Verdict};
use limen_wire::mysql::caps::{CLIENT_DEPRECATE_EOF, CLIENT_PROTOCOL_41};
use limen_wire::mysql::{
    put_lenenc, put_lenenc_str, write_packet, ColumnPlan, ContentMasker, Expect, ServerRelay,
};

use common::mysql::{execute, prepare, query};
use common::{At, FlaggedLog as Log};

const CAPS: u64 = CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF;
const DERIVED: &[u8] = b"[MASKED:derived]";

/// One VAR_STRING column of `t.c` and one row holding `value`, as a text
/// (a COM_QUERY's) or binary (a COM_STMT_EXECUTE's) result set.
fn result_set(value: &[u8], binary: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seq = write_packet(&mut out, 1, &[1]);
    let mut def = Vec::new();
    for v in [&b"def"[..], b"db", b"t", b"t", b"c", b"c"] {
        put_lenenc_str(&mut def, v);
    }
    def.push(0x0c);
    def.extend_from_slice(&[33, 0, 0, 1, 0, 0, 253, 0, 0, 0, 0, 0]);
    seq = write_packet(&mut out, seq, &def);
    let mut row = Vec::new();
    if binary {
        row.extend_from_slice(&[0, 0]); // header, NULL bitmap
    }
    put_lenenc_str(&mut row, value);
    seq = write_packet(&mut out, seq, &row);
    let mut ok = vec![0xfe];
    put_lenenc(&mut ok, 0);
    put_lenenc(&mut ok, 0);
    ok.extend_from_slice(&2u16.to_le_bytes());
    ok.extend_from_slice(&0u16.to_le_bytes());
    write_packet(&mut out, seq, &ok);
    out
}

fn prepare_ok(id: u32) -> Vec<u8> {
    let mut p = vec![0];
    p.extend_from_slice(&id.to_le_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    let mut out = Vec::new();
    write_packet(&mut out, 1, &p);
    out
}

struct Session {
    relay: SharedMySqlRelay<At>,
    core: MySqlCore<At>,
    log: Log,
    judged: Vec<Vec<u8>>,
}

impl Session {
    /// A session on a relay that masks nothing yet, and its core's swap.
    fn new() -> (Self, MySqlMaskSwap<At>) {
        let relay: SharedMySqlRelay<At> =
            Arc::new(Mutex::new(ServerRelay::new(None, CAPS, 1 << 20)));
        let core = MySqlCore::new(Arc::clone(&relay), 1 << 20, CacheLimits::default());
        let swap = core.mask_swap();
        let session = Session {
            relay,
            core,
            log: Log::default(),
            judged: Vec::new(),
        };
        (session, swap)
    }

    /// Sends one command; the host (when asked) allows it, cacheable, and
    /// records its text through `At` once the session masks statements.
    /// Then the server's `answer`; returns what the client got.
    fn run(
        &mut self,
        packet: &[u8],
        answer: &[u8],
        masked_text: bool,
    ) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let mut up = Vec::new();
        let step = self.core.try_client_data(packet, &mut up, &mut self.log)?;
        if let ClientStep::Judge(r) = step {
            let text = r.sql.get(1..).unwrap_or_default().to_vec();
            let mut recorded = Vec::new();
            if masked_text {
                At.mask_into(&text, &mut recorded);
            } else {
                recorded.clone_from(&text);
            }
            self.log.0.push((RecordKind::C2u, recorded, masked_text));
            self.judged.push(text);
            let code = r.sql.first().copied().unwrap_or(0);
            let (expect, event) = if code == 0x16 {
                let mut e = b"{\"prepare\":1}".to_vec();
                e.push(EXECUTE_SPLIT);
                e.extend_from_slice(b"{\"execute\":");
                (Expect::Prepare, e)
            } else {
                (Expect::Query, b"{\"query\":1}".to_vec())
            };
            self.relay
                .lock()
                .map_err(|_| "lock")?
                .expect(expect, 0, None, None)?;
            let verdict = Verdict {
                upstream: r.raw.clone(),
                cache_event: Some(event),
                ..Verdict::default()
            };
            self.core.try_resume(r.id, verdict, &mut up)?;
            self.core.try_process(&mut up, &mut self.log)?;
        }
        assert_eq!(up, packet, "the command went upstream as is");
        let mut client = Vec::new();
        assert!(self
            .core
            .try_upstream_data(answer, &mut client, &mut self.log)?);
        Ok(client)
    }

    fn last_u2c(&self) -> Option<bool> {
        self.log
            .0
            .iter()
            .rev()
            .find(|(k, _, _)| *k == RecordKind::U2c)
            .map(|(_, _, masked)| *masked)
    }
}

fn has(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_swap_reaches_the_relay_the_records_the_cache_and_statements_decided_here(
) -> Result<(), Box<dyn std::error::Error>> {
    let (mut s, swap) = Session::new();
    let select = query(b"SELECT 'a@b'");

    // Before: nothing masks; the statement is cached (the second is a hit,
    // recorded as is), and a statement prepared on a cached decision runs
    // here.
    let out = s.run(&select, &result_set(b"a@b", false), false)?;
    assert!(has(&out, b"a@b"));
    assert_eq!(s.last_u2c(), Some(false));
    s.run(&select, &result_set(b"a@b", false), false)?;
    s.run(&prepare(b"SELECT c FROM t"), &prepare_ok(7), false)?;
    let out = s.run(&execute(7), &result_set(b"x@y", true), false)?;
    assert!(has(&out, b"x@y"));
    assert_eq!(s.judged.len(), 2);

    let everything = ColumnPlan::new(Vec::new(), Some(DERIVED.to_vec()), Some(Vec::new()));
    swap.set(Some(At), Some(At), true, true, Some(everything))?;

    // After: the cache is forgotten (the host judges the statement again
    // and records its text masked), the answer is masked and so flagged.
    let out = s.run(&select, &result_set(b"a@b", false), true)?;
    assert_eq!(s.judged.len(), 3);
    assert!(!has(&out, b"a@b"));
    assert!(has(&out, b"a[MASKED]b"));
    assert_eq!(s.last_u2c(), Some(true));
    // The statement prepared before the swap still runs here, with the
    // swap's column plan (every column replaced).
    let out = s.run(&execute(7), &result_set(b"x@y", true), true)?;
    assert_eq!(s.judged.len(), 3);
    assert!(!has(&out, b"x@y"));
    assert!(has(&out, DERIVED));
    // No statement text with an '@' was recorded raw after the swap.
    let raw: Vec<_> = s
        .log
        .0
        .iter()
        .filter(|(k, p, _)| *k == RecordKind::C2u && has(p, b"@"))
        .map(|(_, _, masked)| *masked)
        .collect();
    assert_eq!(raw, [false, false], "the two before the swap only");
    Ok(())
}

#[test]
fn a_swap_without_column_masks_leaves_statements_decided_here_unplanned(
) -> Result<(), Box<dyn std::error::Error>> {
    let (mut s, swap) = Session::new();
    s.run(&prepare(b"SELECT c FROM t"), &prepare_ok(3), false)?;
    swap.set(Some(At), None, false, true, None)?;
    let out = s.run(&execute(3), &result_set(b"x@y", true), false)?;
    assert_eq!(s.judged.len(), 1, "the execute was decided here");
    assert!(
        has(&out, b"x[MASKED]y"),
        "content masked, no column replaced"
    );
    assert_eq!(s.last_u2c(), Some(true));
    // Masks taken away: the relay stops masking, the records say so.
    swap.set(None, None, false, false, None)?;
    let out = s.run(&execute(3), &result_set(b"x@y", true), false)?;
    assert!(has(&out, b"x@y"));
    assert_eq!(s.last_u2c(), Some(false));
    Ok(())
}
