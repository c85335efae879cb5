//! Fuzz the pump's MySQL core: arbitrary client bytes (judged by a host
//! that forwards and caches, or replies, as the input says) and arbitrary
//! upstream bytes, in chunks the input chooses. It must never panic, and
//! the upstream must only ever get whole packets.
#![no_main]
use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use limen_pump::mysql::{MySqlCore, SharedMySqlRelay, EXECUTE_SPLIT};
use limen_pump::{CacheLimits, ClientStep, RecordKind, RecordSink, Verdict};
use limen_wire::mysql::{ContentMasker, Expect, Limits, PacketDecoder, ServerRelay};

struct Toy;

impl ContentMasker for Toy {
    fn mask_into(&self, value: &[u8], out: &mut Vec<u8>) -> usize {
        out.extend_from_slice(value);
        0
    }
}

struct Count(usize);

impl RecordSink for Count {
    fn try_append(&mut self, _kind: RecordKind, payload: &[u8]) -> Result<(), String> {
        self.0 += payload.len();
        Ok(())
    }
}

fn verdict(relay: &SharedMySqlRelay<Toy>, choice: u8, sql: &[u8], raw: &[u8]) -> Verdict {
    if choice % 4 == 0 {
        return Verdict {
            upstream: b"\x05\x00\x00\x01\xff\x01\x00#1".to_vec(),
            discard_until_sync: true,
            ..Verdict::default()
        };
    }
    let expect = match sql.first() {
        Some(0x16) => Expect::Prepare,
        Some(0x17) => Expect::Execute,
        Some(3) => Expect::Query,
        _ => Expect::Ok,
    };
    let seq = raw.get(3).copied().unwrap_or(0);
    if let Ok(mut r) = relay.lock() {
        let _ = r.expect(expect, seq, None, None);
    }
    let mut event = b"{}".to_vec();
    if expect == Expect::Prepare {
        event.push(EXECUTE_SPLIT);
        event.extend_from_slice(b"{\"id\":");
    }
    Verdict {
        upstream: raw.to_vec(),
        cache_event: (choice % 2 == 1).then_some(event),
        ..Verdict::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let split = rest.len() / 2;
    let (client, server) = rest.split_at(split);
    let relay: SharedMySqlRelay<Toy> = Arc::new(Mutex::new(ServerRelay::new(
        Some(Toy),
        1 << 9 | 1 << 24,
        1 << 16,
    )));
    let mut core = MySqlCore::new(Arc::clone(&relay), 1 << 16, CacheLimits::default());
    let mut sink = Count(0);
    let mut up = Vec::new();
    let mut out = Vec::new();
    let chunk = usize::from(ctl % 17) + 1;
    let mut server = server.chunks(chunk);
    for piece in client.chunks(chunk) {
        let mut step = match core.try_client_data(piece, &mut up, &mut sink) {
            Ok(s) => s,
            Err(_) => return,
        };
        while let ClientStep::Judge(r) = &step {
            let v = verdict(&relay, ctl ^ (r.id as u8), &r.sql, &r.raw);
            if core.try_resume(r.id, v, &mut up).is_err() {
                return;
            }
            step = match core.try_process(&mut up, &mut sink) {
                Ok(s) => s,
                Err(_) => return,
            };
        }
        core.take_client(&mut out);
        if let Some(bytes) = server.next() {
            if core.try_upstream_data(bytes, &mut out, &mut sink).is_err() {
                return;
            }
            if core.wants_process() && core.try_process(&mut up, &mut sink).is_err() {
                return;
            }
        }
        if step == ClientStep::Terminate {
            break;
        }
    }
    // The upstream got whole packets only.
    let mut d = PacketDecoder::new(Limits::default());
    d.set_authenticated();
    d.ignore_sequence();
    if d.receive_data(&up[..up.len().min(1 << 20)]).is_ok() {
        while let Ok(Some(_)) = d.next_packet() {}
        assert!(
            up.len() > 1 << 20 || d.pending() == 0,
            "a partial packet went upstream"
        );
    }
});
