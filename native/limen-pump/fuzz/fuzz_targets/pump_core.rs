//! Fuzz the pump's sans-IO core: arbitrary client bytes (judged by a host
//! that allows, caches and sometimes discards until Sync, as the input
//! says) and arbitrary upstream bytes, in chunks the input chooses. It must
//! never panic, and both sides must only ever get whole messages.
#![no_main]
use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use limen_pump::{
    CacheLimits, ClientStep, JudgeRequest, PumpCore, RecordKind, RecordSink, Verdict,
};
use limen_wire::pg::{BackendDecoder, ContentMasker, FrontendDecoder, Limits, ServerRelay};

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

struct Count(usize);

impl RecordSink for Count {
    fn try_append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<(), String> {
        // The host caches only statements its masker leaves unchanged, so
        // the pump must never record one with a '@' (what Toy masks).
        assert!(
            kind != RecordKind::C2u || !payload.contains(&b'@'),
            "a secret recorded raw"
        );
        self.0 += payload.len();
        Ok(())
    }
}

fn verdict(req: &JudgeRequest) -> Verdict {
    Verdict {
        upstream: req.raw.clone(),
        discard_until_sync: req.sql.first() == Some(&b'D'),
        cache_event: (req.sql.len() % 2 == 0 && !req.sql.contains(&b'@')).then(|| b"{}".to_vec()),
        cache_shape: req.sql.len() % 3 == 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let split = rest.len() * usize::from(ctl & 0x0f) / 16;
    let (client, upstream) = rest.split_at(split);
    let step = usize::from(ctl >> 4).max(1);
    let limits = Limits {
        max_message_size: 1 << 16,
        ..Limits::default()
    };
    let relay = Arc::new(Mutex::new(ServerRelay::new(Some(Toy), limits)));
    let cache = CacheLimits {
        entries: 4,
        bytes: 256,
        max_text: 64,
    };
    let mut core = PumpCore::new(FrontendDecoder::new_regular(limits), relay, cache)
        .with_input_masker(Some(Toy))
        .with_paused_cap(1 << 12);
    let mut sink = Count(0);
    let (mut up, mut out) = (Vec::new(), Vec::new());
    // A request whose text's length is a multiple of 5 is answered late:
    // the next chunk arrives while the core is paused (buffered, capped).
    let mut late: Option<JudgeRequest> = None;
    'client: for chunk in client.chunks(step) {
        let mut r = match late.take() {
            Some(req) => match core.try_client_data(chunk, &mut up, &mut sink) {
                Ok(ClientStep::Paused) => core
                    .try_resume(req.id, verdict(&req), &mut up)
                    .and_then(|()| core.try_process(&mut up, &mut sink)),
                Ok(other) => panic!("a paused core must only buffer, got {other:?}"),
                Err(_) => break 'client,
            },
            None => core.try_client_data(chunk, &mut up, &mut sink),
        };
        while let Ok(ClientStep::Judge(req)) = &r {
            if req.sql.len() % 5 == 0 {
                late = Some(req.clone());
                continue 'client;
            }
            r = core
                .try_resume(req.id, verdict(req), &mut up)
                .and_then(|()| core.try_process(&mut up, &mut sink));
        }
        if !matches!(r, Ok(ClientStep::NeedData)) {
            break 'client;
        }
    }
    for chunk in upstream.chunks(step) {
        if core.try_upstream_data(chunk, &mut out, &mut sink).is_err() {
            break;
        }
    }
    let mut f = FrontendDecoder::new_regular(Limits::default());
    if f.receive_data(&up).is_ok() {
        while let Ok(Some(_)) = f.next_frame() {}
        assert_eq!(f.pending(), 0, "a partial message went upstream");
    }
    let mut b = BackendDecoder::new(Limits::default());
    if b.receive_data(&out).is_ok() {
        while let Ok(Some(_)) = b.next_frame() {}
        assert_eq!(b.pending(), 0, "a partial message went to the client");
    }
});
