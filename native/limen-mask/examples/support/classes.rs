//! The content classes of `classes.rs` and `profile.rs`: ordinary text,
//! encoded blobs, numbers, and repetitive near-misses of every detector.

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick(&mut self, set: &[u8]) -> u8 {
        set[(self.next() % set.len() as u64) as usize]
    }
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";
const DIG: &[u8] = b"0123456789";

fn repeat(unit: &[u8], size: usize) -> Vec<u8> {
    unit.iter().copied().cycle().take(size).collect()
}

fn fill(size: usize, mut f: impl FnMut(&mut Rng, &mut Vec<u8>)) -> Vec<u8> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(size + 256);
    while out.len() < size {
        f(&mut r, &mut out);
    }
    out.truncate(size);
    out
}

/// Makes `size` bytes of one class.
pub type Maker = Box<dyn Fn(usize) -> Vec<u8>>;

/// Each class's name and a generator of `size` bytes of it.
pub fn class_makers() -> Vec<(&'static str, Maker)> {
    let words: &[&[u8]] = &[
        b"the",
        b"gateway",
        b"masks",
        b"secret",
        b"values",
        b"in",
        b"results",
        b"token",
        b"and",
        b"password",
        b"a",
        b"key",
    ];
    vec![
        (
            "prose",
            Box::new(move |size| {
                fill(size, |r, o| {
                    o.extend_from_slice(words[(r.next() % 12) as usize]);
                    o.push(if r.next() % 9 == 0 { b'\n' } else { b' ' });
                })
            }),
        ),
        (
            "logs",
            Box::new(move |size| {
                fill(size, |r, o| {
                    o.extend_from_slice(format!("2026-11-26T10:20:{:02}.123Z INFO req={:016x} user=u{}@example.com handled in {}ms\n", r.next() % 60, r.next(), r.next() % 1000, r.next() % 500).as_bytes());
                })
            }),
        ),
        (
            "json",
            Box::new(move |size| {
                fill(size, |r, o| {
                    o.extend_from_slice(format!("{{\"id\": {}, \"status\": \"shipped\", \"price\": {}.{:02}, \"sku\": \"ab{:x}\"}}\n", r.next() % 100000, r.next() % 1000, r.next() % 100, r.next() % 65536).as_bytes());
                })
            }),
        ),
        (
            "json escaped",
            Box::new(move |size| {
                // Log text inside JSON strings: escapes every few words.
                let pw: &[&[u8]] = &[
                    b"the", b"gateway", b"masks", b"secret", b"values", b"in", b"results", b"and",
                    b"a", b"key", b"for", b"each", b"session",
                ];
                fill(size, |r, o| {
                    o.extend_from_slice(b"{\"msg\": \"");
                    for i in 0..6 {
                        if i > 0 {
                            o.push(b' ');
                        }
                        o.extend_from_slice(pw[(r.next() % 13) as usize]);
                    }
                    let line = r.next() % 999;
                    let word = pw[(r.next() % 13) as usize];
                    let n = r.next() % 100;
                    o.extend_from_slice(
                        format!("\\n\\tat line {line}\\ncaf\\u00e9 \\\"").as_bytes(),
                    );
                    o.extend_from_slice(word);
                    o.extend_from_slice(format!("\\\"\", \"n\": {n}}}\n").as_bytes());
                })
            }),
        ),
        (
            "csv numbers",
            Box::new(move |size| {
                fill(size, |r, o| {
                    o.extend_from_slice(
                        format!(
                            "{},{},{}.{},{}\n",
                            r.next() % 1_000_000,
                            r.next() % 1_000_000_000_000,
                            r.next() % 1000,
                            r.next() % 1000,
                            r.next()
                        )
                        .as_bytes(),
                    );
                })
            }),
        ),
        (
            "base64",
            Box::new(move |size| {
                fill(size, |r, o| {
                    for _ in 0..76 {
                        o.push(r.pick(B64));
                    }
                    o.push(b'\n');
                })
            }),
        ),
        (
            "base64 no newline",
            Box::new(move |size| fill(size, |r, o| o.push(r.pick(B64)))),
        ),
        (
            "hex",
            Box::new(move |size| fill(size, |r, o| o.push(r.pick(HEX)))),
        ),
        (
            "digit run",
            Box::new(move |size| fill(size, |r, o| o.push(r.pick(DIG)))),
        ),
        (
            "digit groups",
            Box::new(move |size| {
                fill(size, |r, o| {
                    for _ in 0..4 {
                        o.push(r.pick(DIG));
                    }
                    o.push(if r.next() % 2 == 0 { b' ' } else { b'-' });
                })
            }),
        ),
        (
            "single digits spaced",
            Box::new(move |size| {
                fill(size, |r, o| {
                    o.push(r.pick(DIG));
                    o.push(b' ');
                })
            }),
        ),
        (
            "dotted numbers",
            Box::new(move |size| repeat(b"1.2.3.4.", size)),
        ),
        (
            "dotted numbers 2",
            Box::new(move |size| {
                fill(size, |r, o| {
                    o.extend_from_slice(
                        format!("{}.{}.", r.next() % 1000, r.next() % 10).as_bytes(),
                    );
                })
            }),
        ),
        (
            "key prefixes",
            Box::new(move |size| {
                repeat(
                    b"AKIA ghp_ sk-ant-api03- xoxb- glpat- AIza sk_live_ github_pat_ eyJ ",
                    size,
                )
            }),
        ),
        (
            "key prefixes glued",
            Box::new(move |size| repeat(b"sk-proj-sk-ghp_AKIAAIza", size)),
        ),
        (
            "password near-miss",
            Box::new(move |size| repeat(b"password = next_token(); token: ", size)),
        ),
        (
            "emails no domain",
            Box::new(move |size| repeat(b"alice@ bob.smith@ x@y ", size)),
        ),
        ("emails glued", Box::new(move |size| repeat(b"a@a.", size))),
        (
            "jwt no dots",
            Box::new(move |size| {
                fill(size, |r, o| {
                    o.extend_from_slice(b"eyJ");
                    for _ in 0..40 {
                        o.push(r.pick(b"abcdefghijklmnopqrstuvwxyz0123456789_-"));
                    }
                })
            }),
        ),
        (
            "jwt dots no eyJ",
            Box::new(move |size| repeat(b"eyJhbGciOiJIUzI1NiJ9.eyJzdWI.", size)),
        ),
        (
            "pem headers",
            Box::new(move |size| {
                repeat(b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n", size)
            }),
        ),
        (
            "url near-miss",
            Box::new(move |size| repeat(b"https://user:pass https://a:b/ ftp://x:", size)),
        ),
        (
            "phone near-miss",
            Box::new(move |size| repeat(b"+1 234 +44 20 79 ", size)),
        ),
        (
            "iban near-miss",
            Box::new(move |size| repeat(b"DE89 3704 0044 0532 0130 00XX GB12 ", size)),
        ),
        (
            "bearer near-miss",
            Box::new(move |size| repeat(b"Bearer abc Authorization: Basic ", size)),
        ),
    ]
}

/// Every class, `size` bytes each.
#[allow(dead_code)]
pub fn classes(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    class_makers()
        .into_iter()
        .map(|(n, make)| (n, make(size)))
        .collect()
}
