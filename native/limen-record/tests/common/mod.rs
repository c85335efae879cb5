//! Shared helpers for the integration tests: build logs in memory.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use limen_record::{
    try_generate_recipient_key, try_generate_signing_key, HeaderFields, Key32, Kind, ReaderLimits,
    Records, Writer, WriterConfig,
};

pub fn fields() -> HeaderFields<'static> {
    HeaderFields {
        session_id: "sess-1",
        identity: "ci-bot",
        resource: "staging",
        protocol: "postgres",
        start_unix_us: 1_700_000_000_000_000,
    }
}

pub struct Keys {
    pub signing: Key32,
    pub private: Key32,
    pub public: Key32,
}

pub fn keys() -> Keys {
    let (private, public) = try_generate_recipient_key().unwrap();
    Keys {
        signing: try_generate_signing_key().unwrap(),
        private,
        public,
    }
}

pub fn small_cfg() -> WriterConfig {
    let mut c = WriterConfig {
        max_record: 64,
        max_batch: 64 + 14 + 50,
        ..WriterConfig::default()
    };
    c.flush.bytes = 300;
    c.direct_write_min = 100;
    c
}

/// Write `appends` and return (log bytes closed, log bytes unclosed).
pub fn write_log(
    k: &Keys,
    encrypted: bool,
    cfg: WriterConfig,
    appends: &[(Kind, Vec<u8>)],
    close: bool,
) -> Vec<u8> {
    let recipient = encrypted.then_some(&k.public);
    let mut w = Writer::try_create(Vec::new(), &fields(), &k.signing, recipient, cfg).unwrap();
    for (i, (kind, p)) in appends.iter().enumerate() {
        w.try_append(*kind, i as u64 * 10, p).unwrap();
    }
    if close {
        w.try_close(appends.len() as u64 * 10).unwrap();
        w.sink().clone()
    } else {
        w.try_into_bytes().unwrap()
    }
}

pub fn read_all(bytes: &[u8], k: &Keys) -> (Vec<(Kind, Vec<u8>)>, Option<limen_record::Ending>) {
    let mut r = Records::try_open(bytes, Some(&k.private), None, &ReaderLimits::default()).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.try_next().unwrap() {
        out.push((rec.kind, rec.payload));
    }
    (out, r.ending())
}
