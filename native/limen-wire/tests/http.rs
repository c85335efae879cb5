//! `limen_wire::http`: the smuggling shapes the gateway refuses, the
//! fields it reads, the chunked coding; property tests (a head built from
//! random parts reads back as those parts, a body chunked at random and
//! fed in random pieces decodes to itself). The differential test against
//! the Python reader and h11 is `tests/test_http_native_heads.py`.
use limen_wire::http::{
    encode_chunk, encode_last_chunk, find_request_head, find_response_head, hand_back_reason,
    parse_request_head, parse_response_head, write_request_head, write_response_head, BodyFraming,
    ChunkedDecoder, UpstreamHeaders, MAX_REQUEST_HEAD,
};
use proptest::prelude::*;

fn request(head: &[u8]) -> Result<(), limen_wire::Error> {
    parse_request_head(head).map(|_| ())
}

#[test]
fn accepts_a_plain_request() {
    let head = b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A:  one two \t\r\n\r\n";
    let r = parse_request_head(head).expect("a plain head");
    assert_eq!(r.method, b"GET");
    assert_eq!(r.target, b"/a?b=1");
    assert_eq!(r.version, *b"11");
    assert_eq!(r.header(b"x-a"), Some(&b"one two"[..]));
    assert_eq!(r.body(), BodyFraming::Length(0));
    assert!(r.keep_alive());
}

#[test]
fn refuses_the_smuggling_shapes() {
    let refused: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
        b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 123456789012345678901\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n",
    ];
    for head in refused {
        assert!(
            request(head).is_err(),
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn reads_framing_as_h11() {
    let r =
        parse_request_head(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ChUnKeD \r\n\r\n")
            .expect("chunked");
    assert_eq!(r.body(), BodyFraming::Chunked);
    assert_eq!(r.header(b"transfer-encoding"), Some(&b"chunked"[..]));
    let r = parse_request_head(b"POST / HTTP/1.0\r\nContent-Length: 007\r\n\r\n").expect("1.0");
    assert_eq!(r.body(), BodyFraming::Length(7));
    assert!(!r.keep_alive());
}

#[test]
fn finds_heads_within_the_limit() {
    assert_eq!(find_request_head(b"\r\n\r\nGET", 10).ok(), Some(None));
    let buf = b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
    assert_eq!(find_request_head(buf, 100).ok(), Some(Some((2, 29))));
    assert!(find_request_head(buf, 26).is_err());
    assert_eq!(find_request_head(buf, 27).ok(), Some(Some((2, 29))));
    assert!(find_request_head(&[b'a'; 11], 10).is_err());
    assert_eq!(find_request_head(&[b'a'; 10], 10).ok(), Some(None));
}

#[test]
fn reads_responses_as_h11() {
    let head = b"HTTP/1.1 200 OK\nContent-Length: 5, 5\r\ncontent-length: 5\nX-A: a\n\t b\r\n\r\n";
    let end = find_response_head(head, 1000)
        .expect("found")
        .expect("complete");
    assert_eq!(end, head.len());
    let r = parse_response_head(head).expect("lenient");
    assert_eq!(r.status, 200);
    assert_eq!(r.reason, b"OK");
    assert_eq!(r.headers.len(), 2);
    assert_eq!(r.header(b"content-length"), Some(&b"5"[..]));
    assert_eq!(r.header(b"x-a"), Some(&b"a b"[..]));
    assert_eq!(r.body(b"GET"), BodyFraming::Length(5));
    assert_eq!(r.body(b"HEAD"), BodyFraming::Length(0));
    let r = parse_response_head(b"HTTP/1.0 204\r\n\r\n").expect("no reason");
    assert_eq!((r.status, r.reason, r.keep_alive()), (204, &b""[..], false));
    let r = parse_response_head(b"HTTP/1.1 200 \r\n\r\n").expect("empty reason");
    assert_eq!(r.body(b"GET"), BodyFraming::UntilClose);
    for bad in [
        &b"HTTP/1.1 099 Low\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 200 O\x0bK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: first\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        assert!(parse_response_head(bad).is_err(), "{bad:?}");
    }
    assert!(find_response_head(b" HTTP", 100).is_err());
    let r = parse_response_head(b"HTTP/1.1 101 Switching\r\n\r\n").expect("parses");
    assert!(r.interim() && r.check_switch(false).is_err() && r.check_switch(true).is_ok());
    assert!(find_response_head(b"HTTP/1.1 200 OK\r\n", 10).is_err());
}

fn decode_all(pieces: &[&[u8]], limit: usize) -> Result<(Vec<u8>, usize, bool), limen_wire::Error> {
    let mut d = ChunkedDecoder::new(limit);
    let mut out = Vec::new();
    let mut used = 0;
    for p in pieces {
        used += d.decode(p, &mut out)?;
    }
    Ok((out, used, d.is_done()))
}

#[test]
fn decodes_chunked_bodies() {
    let body = b"5;ext=\"a\"\r\nhello\r\n3 \t\r\n!!!\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    let (out, used, done) = decode_all(&[&body[..]], 100).expect("valid");
    assert_eq!(
        (out.as_slice(), used, done),
        (&b"hello!!!"[..], body.len() - 4, true)
    );
    let pieces: Vec<&[u8]> = body.chunks(1).collect();
    let (out, used, done) = decode_all(&pieces, 100).expect("byte by byte");
    assert_eq!(
        (out.as_slice(), used, done),
        (&b"hello!!!"[..], body.len() - 4, true)
    );
    let (_, used, done) = decode_all(&[&b"0\r\n\n\n"[..]], 100).expect("bare LF trailer");
    assert_eq!((used, done), (4, true));
    for bad in [
        &b"g\r\n"[..],
        b"5\r\nhelloX\r\n",
        b" 5\r\nhello\r\n",
        b"5 x\r\nhello\r\n",
        b"5;a\nb\r\n",
        b"123456789012345678901\r\n",
        b"0\r\nX-T : 1\r\n\r\n",
        b"0\r\n folded\r\n\r\n",
        b"0\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        assert!(decode_all(&[bad], 100).is_err(), "{bad:?}");
    }
    assert!(decode_all(&[&b"5;aaaaaaaaaaaa"[..]], 10).is_err());
    assert!(decode_all(&[&b"5;aaaaaaaaaaaa\r\n"[..]], 10).is_ok());
    let huge = decode_all(&[&b"FFFFFFFFFFFFFFFFFFFF\r\nabc"[..]], 100).expect("20 digits");
    assert_eq!((huge.0.as_slice(), huge.2), (&b"abc"[..], false));
}

#[test]
fn encodes_as_h11() {
    let mut out = Vec::new();
    encode_chunk(b"", &mut out);
    encode_chunk(&[b'a'; 26], &mut out);
    encode_last_chunk(&mut out);
    let mut want = b"1a\r\n".to_vec();
    want.extend_from_slice(&[b'a'; 26]);
    want.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(out, want);
}

#[test]
fn writes_the_upstream_request_and_the_client_response() {
    let head = parse_request_head(
        b"get /a HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer t\r\nConnection: x-a\r\n\
          X-A: 1\r\nX-B: 2\r\nContent-Length: 3\r\n\r\n",
    )
    .expect("head");
    let adds =
        UpstreamHeaders::new(b"api:81", Some((&b"X-Key"[..], &b"k"[..])), true).expect("adds");
    let mut out = Vec::new();
    write_request_head(&mut out, &head, b"/v2/a", &adds);
    let want: &[u8] = b"GET /v2/a HTTP/1.1\r\nhost: api:81\r\nx-b: 2\r\ncontent-length: 3\r\n\
                       accept-encoding: identity\r\nx-key: k\r\n\r\n";
    assert_eq!(out, want);
    assert!(UpstreamHeaders::new(b"h", Some((&b"Host"[..], &b"x"[..])), false).is_err());
    assert!(UpstreamHeaders::new(b"h", Some((&b"x-k"[..], &b"a\r\nb"[..])), false).is_err());
    let resp = parse_response_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\nX: y\r\n\r\n",
    )
    .expect("response");
    let mut out = Vec::new();
    let framing = write_response_head(&mut out, &resp, b"GET", true, None);
    assert_eq!(framing, BodyFraming::Chunked);
    let want: &[u8] = b"HTTP/1.1 200 OK\r\nx: y\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(out, want);
    out.clear();
    let framing = write_response_head(&mut out, &resp, b"HEAD", false, None);
    assert_eq!(framing, BodyFraming::Length(0));
    let want: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx: y\r\n\r\n";
    assert_eq!(out, want);
}

#[test]
fn hands_back_what_python_treats_apart() {
    let reason = |h: &[u8]| parse_request_head(h).map(|r| hand_back_reason(&r)).ok();
    assert_eq!(
        reason(&b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"[..]),
        Some(None)
    );
    for head in [
        &b"GET /a HTTP/1.0\r\n\r\n"[..],
        b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n",
        b"CONNECT h:1 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, upgrade\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: h\r\nPrefer: respond-async\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: h\r\nLimen-Approval: ap-1\r\n\r\n",
        b"GET /.well-known/limen/approvals/ap-1 HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        assert!(matches!(reason(head), Some(Some(_))), "{head:?}");
    }
}

fn token() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop::sample::select(b"abcXYZ019!#$%&'*+-.^_`|~".to_vec()),
        1..12,
    )
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop::sample::select(b"az09 \t\x01\x7f\x80\xff\"(),/:;<=>?@[]{}".to_vec()),
        0..16,
    )
    .prop_map(|v| v.trim_ascii().to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_built_head_reads_back(
        method in token(),
        target in proptest::collection::vec(0x21u8..0x7f, 1..40),
        fields in proptest::collection::vec((token(), value()), 0..8),
        pad in proptest::collection::vec(prop::sample::select(vec![&b""[..], b" ", b"\t", b" \t "]), 2),
    ) {
        let skip = |n: &[u8]| {
            [&b"host"[..], b"content-length", b"transfer-encoding"]
                .iter()
                .any(|s| n.eq_ignore_ascii_case(s))
        };
        let fields: Vec<_> = fields.into_iter().filter(|(n, _)| !skip(n)).collect();
        let mut head = method.clone();
        head.push(b' ');
        head.extend_from_slice(&target);
        head.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n");
        for (n, v) in &fields {
            head.extend_from_slice(n);
            head.push(b':');
            head.extend_from_slice(pad[0]);
            head.extend_from_slice(v);
            head.extend_from_slice(pad[1]);
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        prop_assert_eq!(find_request_head(&head, MAX_REQUEST_HEAD).ok(), Some(Some((0, head.len()))));
        let r = parse_request_head(&head).expect("a well-formed head");
        prop_assert_eq!(r.method, &method[..]);
        prop_assert_eq!(r.target, &target[..]);
        prop_assert_eq!(r.headers.len(), fields.len() + 1);
        for (h, (n, v)) in r.headers[1..].iter().zip(&fields) {
            prop_assert_eq!(h.name.as_ref(), &n[..]);
            prop_assert_eq!(h.value.as_ref(), &v[..]);
        }
    }

    #[test]
    fn a_chunked_body_decodes_to_itself(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(1usize..50, 1..20),
        feed in proptest::collection::vec(1usize..40, 1..30),
        rest in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        let mut wire = Vec::new();
        let mut at = 0;
        for c in cuts.iter().cycle() {
            if at >= body.len() {
                break;
            }
            let end = (at + c).min(body.len());
            encode_chunk(&body[at..end], &mut wire);
            at = end;
        }
        encode_last_chunk(&mut wire);
        let body_len = wire.len();
        wire.extend_from_slice(&rest);
        let mut pieces = Vec::new();
        let mut at = 0;
        for f in feed.iter().cycle() {
            if at >= wire.len() {
                break;
            }
            let end = (at + f).min(wire.len());
            pieces.push(&wire[at..end]);
            at = end;
        }
        let (out, used, done) = decode_all(&pieces, 64).expect("its own encoding");
        prop_assert_eq!(out, body);
        prop_assert_eq!(used, body_len);
        prop_assert!(done);
    }

    #[test]
    fn peer_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300), limit in 1usize..400) {
        if let Ok(Some((start, end))) = find_request_head(&buf, limit) {
            prop_assert!(end - start <= limit);
            let _ = parse_request_head(&buf[start..end]);
        }
        if let Ok(Some(end)) = find_response_head(&buf, limit) {
            let _ = parse_response_head(&buf[..end]);
        }
        let mut d = ChunkedDecoder::new(limit);
        let mut out = Vec::new();
        for piece in buf.chunks(7) {
            match d.decode(piece, &mut out) {
                Ok(_) => prop_assert!(d.pending() <= limit),
                Err(_) => break,
            }
        }
        prop_assert!(out.len() <= buf.len());
    }
}
