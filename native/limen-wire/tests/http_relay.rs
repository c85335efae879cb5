//! `limen_wire::http::{ClientSide, UpstreamSide}`: the framing skeleton of
//! the native HTTP relay, driven with byte slices.
use limen_wire::http::{
    ChunkedDecoder, ClientSide, Step, UpstreamHeaders, UpstreamSide, MAX_REQUEST_HEAD,
};
use proptest::prelude::*;

fn adds() -> Result<UpstreamHeaders, limen_wire::Error> {
    UpstreamHeaders::new(b"api:81", Some((&b"x-key"[..], &b"k"[..])), false)
}

type Dechunked = (Vec<u8>, usize, bool);

fn dechunk(body: &[u8]) -> Result<Dechunked, limen_wire::Error> {
    let mut d = ChunkedDecoder::new(1024);
    let mut out = Vec::new();
    let used = d.decode(body, &mut out)?;
    Ok((out, used, d.is_done()))
}

#[test]
fn a_get_goes_upstream_and_the_next_request_waits() {
    let mut c = ClientSide::new(MAX_REQUEST_HEAD);
    let mut up = Vec::new();
    let two = b"GET /a HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer t\r\n\r\nGET /b HTTP/1.1\r\nHost: c\r\n\r\n";
    assert_eq!(c.feed(&two[..20], &mut up).ok(), Some(Step::NeedData));
    assert_eq!(c.feed(&two[20..], &mut up).ok(), Some(Step::Head));
    assert_eq!(c.head().expect("head").target, b"/a");
    let step = c
        .forward(b"/v2/a", &adds().expect("adds"), &mut up)
        .expect("forwarded");
    assert_eq!(step, Step::Done { keep_alive: true });
    let want: &[u8] = b"GET /v2/a HTTP/1.1\r\nhost: api:81\r\nx-key: k\r\n\r\n";
    assert_eq!(up, want);
    assert_eq!(c.feed(b"", &mut up).ok(), Some(Step::Head));
    assert_eq!(c.head().expect("next").target, b"/b");
    assert_eq!(c.take_back(), b"GET /b HTTP/1.1\r\nHost: c\r\n\r\n");
}

#[test]
fn a_chunked_request_body_is_framed_again() {
    let mut c = ClientSide::new(MAX_REQUEST_HEAD);
    let mut up = Vec::new();
    let head = b"POST /a HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
    assert_eq!(c.feed(head, &mut up).ok(), Some(Step::Head));
    assert_eq!(
        c.forward(b"/a", &adds().expect("adds"), &mut up).ok(),
        Some(Step::NeedData)
    );
    let rest = b"lo\r\n3;x\r\n!!!\r\n0\r\n\r\nNEXT";
    let step = c.feed(rest, &mut up).expect("the body");
    assert_eq!(step, Step::Done { keep_alive: true });
    let at = up
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end")
        + 4;
    assert!(up[..at].ends_with(b"transfer-encoding: chunked\r\nx-key: k\r\n\r\n"));
    assert_eq!(
        dechunk(&up[at..]).expect("chunked"),
        (b"hello!!!".to_vec(), up.len() - at, true)
    );
    assert_eq!(c.take_back(), b"NEXT");
}

#[test]
fn a_response_is_framed_for_the_client() {
    let mut u = UpstreamSide::new(b"get");
    let mut client = Vec::new();
    let bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello";
    assert_eq!(u.feed(&bytes[..40], &mut client).ok(), Some(Step::NeedData));
    let step = u.feed(&bytes[40..], &mut client).expect("a response");
    assert_eq!(step, Step::Done { keep_alive: true });
    let want: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    assert_eq!(client, want);
}

#[test]
fn a_chunked_or_unframed_response_goes_chunked() {
    let bytes =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let mut u = UpstreamSide::new(b"GET");
    let mut client = Vec::new();
    let mut last = Step::NeedData;
    for b in bytes.chunks(1) {
        last = u.feed(b, &mut client).expect("byte by byte");
    }
    assert_eq!(last, Step::Done { keep_alive: true });
    let at = client
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end")
        + 4;
    assert_eq!(
        &client[..at],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    assert_eq!(
        dechunk(&client[at..]).expect("chunked"),
        (b"abcde".to_vec(), client.len() - at, true)
    );

    let mut u = UpstreamSide::new(b"GET");
    let mut client = Vec::new();
    let step = u
        .feed(b"HTTP/1.1 200 OK\r\n\r\nabc", &mut client)
        .expect("until close");
    assert_eq!(step, Step::NeedData);
    assert_eq!(
        u.eof(&mut client).ok(),
        Some(Step::Done { keep_alive: false })
    );
    let want: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(client, want);
}

#[test]
fn refuses_what_the_native_relay_cannot_pass() {
    for bad in [
        &b"HTTP/1.1 101 Switching\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
    ] {
        let mut u = UpstreamSide::new(b"GET");
        let mut client = Vec::new();
        let fed = u.feed(bad, &mut client);
        let ended = fed.and_then(|_| u.eof(&mut client));
        assert!(ended.is_err(), "{bad:?}");
    }
    let mut c = ClientSide::new(64);
    let mut up = Vec::new();
    assert!(c.feed(&[b'a'; 65], &mut up).is_err());
}

proptest! {
    #[test]
    fn any_body_crosses_in_any_pieces(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        chunked in any::<bool>(),
        piece in 1usize..64,
    ) {
        let mut wire = b"POST /a HTTP/1.1\r\nHost: c\r\n".to_vec();
        if chunked {
            wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for part in body.chunks(37) {
                limen_wire::http::encode_chunk(part, &mut wire);
            }
            limen_wire::http::encode_last_chunk(&mut wire);
        } else {
            wire.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            wire.extend_from_slice(&body);
        }
        let mut c = ClientSide::new(MAX_REQUEST_HEAD);
        let mut up = Vec::new();
        let mut last = Step::NeedData;
        for p in wire.chunks(piece) {
            last = c.feed(p, &mut up).expect("a sound request");
            if last == Step::Head {
                last = c.forward(b"/a", &adds().expect("adds"), &mut up).expect("forwarded");
            }
        }
        prop_assert_eq!(last, Step::Done { keep_alive: true });
        let at = up.windows(4).position(|w| w == b"\r\n\r\n").expect("head end") + 4;
        let sent = if chunked { dechunk(&up[at..]).expect("chunked").0 } else { up[at..].to_vec() };
        prop_assert_eq!(sent, body);
    }
}
