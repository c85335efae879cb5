//! Fuzz the server relay: arbitrary upstream bytes, fed in chunks chosen by
//! the input, with a masker that rewrites a byte pattern. It must never
//! panic, and whatever it forwards must decode as whole messages.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

use limen_wire::pg::{
    BackendDecoder, ContentMasker, CopyFormat, Limits, OutColumn, OutputPlan, ServerRelay,
};

struct Toy;

impl ContentMasker for Toy {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        for &b in value {
            if b == b'@' {
                out.extend_from_slice(b"[MASKED]");
                n += 1;
            } else {
                out.push(b);
            }
        }
        n
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, body)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_message_size: 1 << 16,
        ..Limits::default()
    };
    let mut relay = ServerRelay::new(Some(Toy), limits);
    if ctl & 1 == 1 {
        relay.push_describe(true);
    }
    relay.replace_error(b"@".to_vec(), vec![b'E', 0, 0, 0, 5, 0]);
    if ctl & 0x80 != 0 {
        // An output plan: a masked column, a run, a checked label, COPY
        // rows in text or CSV, scrubbed errors; for a simple query and
        // for a portal.
        let col = |m: bool| OutColumn {
            mask: m.then(|| b"[M]".to_vec()),
            name: (!m).then(|| b"id".to_vec()),
        };
        let copy = if ctl & 0x40 != 0 {
            CopyFormat::Csv {
                delimiter: b',',
                quote: b'"',
                escape: b'\\',
            }
        } else {
            CopyFormat::Text { delimiter: b'\t' }
        };
        let plan = Arc::new(OutputPlan {
            prefix: vec![col(false), col(true)],
            run: (ctl & 0x20 != 0).then_some(None),
            suffix: vec![col(true)],
            all: None,
            copy: Some((copy, ctl & 0x10 != 0)),
            scrub: true,
        });
        relay.plan_query(vec![None, Some(plan.clone())]);
        relay.plan_statement(b"s", Some(plan));
        relay.note_bind(b"", b"s");
        relay.push_describe_portal(ctl & 2 != 0, b"");
    }
    let step = usize::from(ctl >> 1).max(1);
    let mut out = Vec::new();
    for chunk in body.chunks(step) {
        if relay.try_feed(chunk, &mut out).is_err() {
            break;
        }
    }
    let mut check = BackendDecoder::new(Limits {
        max_message_size: 1 << 20,
        ..Limits::default()
    });
    assert!(check.receive_data(&out).is_ok() || out.len() > (1 << 20));
    while let Ok(Some(_)) = check.next_frame() {}
});
