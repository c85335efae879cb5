//! The two heads the gateway writes, byte for byte as its Python relay
//! writes them today (`limen.gateway.http.headers.request_headers` /
//! `response_headers`, then h11's writer): the request it sends upstream
//! and the response head it sends the client.
//!
//! Names go out lower case (the relay takes them lowered from h11's
//! parser), entries named `host` first (h11 writes them first). Only for a
//! client that asked to keep its HTTP/1.1 connection (the requests the
//! native relay handles: see docs/http.md); h11 would add `Connection:
//! close` for the others.
use crate::error::{Error, ErrorKind};

use super::{BodyFraming, Header, RequestHead, ResponseHead};

/// Hop-by-hop headers: never forwarded either way.
const HOP_BY_HOP: [&[u8]; 9] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"proxy-authenticate",
    b"proxy-authorization",
];
/// Also dropped from requests (limen's token, Host, Expect, the framing it
/// writes again, the approval it spends).
const REQUEST_DROPPED: [&[u8]; 5] = [
    b"authorization",
    b"host",
    b"expect",
    b"content-length",
    b"limen-approval",
];

/// What the session adds to every upstream request: checked once (as the
/// Python relay's `checked_header` does) when it is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamHeaders {
    host: Vec<u8>,
    credential: Option<(Vec<u8>, Vec<u8>)>,
    masked: bool,
}

impl UpstreamHeaders {
    /// The upstream's `Host`, the credential header (name, value) if it
    /// goes in a header, and whether answers are masked (then the upstream
    /// is asked for `Accept-Encoding: identity`). Refused (a local error):
    /// a value h11 would not send, a name that is not a token, and a
    /// credential named like a header the relay writes itself.
    pub fn new(
        host: &[u8],
        credential: Option<(&[u8], &[u8])>,
        masked: bool,
    ) -> Result<Self, Error> {
        let bad = || Error::local(ErrorKind::InvalidValue, "an upstream header");
        if !valid_value(host) {
            return Err(bad());
        }
        if let Some((name, value)) = credential {
            let lower = name.to_ascii_lowercase();
            let ours = [
                &b"host"[..],
                b"content-length",
                b"transfer-encoding",
                b"accept-encoding",
            ];
            if name.is_empty()
                || !name.iter().all(|&b| super::syntax::is_tchar(b))
                || ours.contains(&lower.as_slice())
                || !valid_value(value)
            {
                return Err(bad());
            }
        }
        Ok(UpstreamHeaders {
            host: host.to_vec(),
            credential: credential.map(|(n, v)| (n.to_ascii_lowercase(), v.to_vec())),
            masked,
        })
    }
}

/// A value h11 sends: field-vchars with single SP / HTAB runs inside.
fn valid_value(v: &[u8]) -> bool {
    super::syntax::trim_ows(v).len() == v.len()
        && v.iter()
            .all(|&b| super::syntax::is_field_vchar(b) || b == b' ' || b == b'\t')
}

/// The names the `Connection` headers list (lowered).
fn connection_tokens(headers: &[Header<'_>]) -> Vec<Vec<u8>> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(b"connection"))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .map(|t| t.trim_ascii().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn write_headers(out: &mut Vec<u8>, fields: &[(&[u8], &[u8])]) {
    for host in [true, false] {
        for (name, value) in fields {
            if (*name == b"host") == host {
                out.extend_from_slice(name);
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the upstream request for `head` to `out`: the method upper-cased,
/// `target` (the upstream's: base path, normalised path, query), `HTTP/1.1`,
/// then `Host`, the client's headers but the dropped ones, the client's
/// framing, `Accept-Encoding: identity` when masked, the credential.
pub fn write_request_head(
    out: &mut Vec<u8>,
    head: &RequestHead<'_>,
    target: &[u8],
    adds: &UpstreamHeaders,
) {
    let tokens = connection_tokens(&head.headers);
    let lowered: Vec<Vec<u8>> = head
        .headers
        .iter()
        .map(|h| h.name.to_ascii_lowercase())
        .collect();
    let credential = adds.credential.as_ref();
    let dropped = |name: &[u8]| {
        HOP_BY_HOP.contains(&name)
            || REQUEST_DROPPED.contains(&name)
            || tokens.iter().any(|t| t == name)
            || credential.is_some_and(|(n, _)| n == name)
            || (adds.masked && name == b"accept-encoding")
    };
    let mut fields: Vec<(&[u8], &[u8])> = vec![(&b"host"[..], adds.host.as_slice())];
    for (name, h) in lowered.iter().zip(&head.headers) {
        if !dropped(name.as_slice()) {
            fields.push((name, &h.value));
        }
    }
    if let Some(length) = head.header(b"content-length") {
        fields.push((b"content-length", length));
    } else if head.framing.chunked {
        fields.push((b"transfer-encoding", b"chunked"));
    }
    if adds.masked {
        fields.push((b"accept-encoding", b"identity"));
    }
    if let Some((name, value)) = credential {
        fields.push((name, value));
    }
    out.extend(head.method.iter().map(u8::to_ascii_uppercase));
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_headers(out, &fields);
}

/// Writes the client's response head for the upstream's `head` (to a
/// request made with `method`) and returns how its body is framed to the
/// client. `masked`: the body is masked (the upstream's `Content-Length`
/// is dropped); `length`: the masked body's new length, when it was
/// buffered whole. Without a length the body goes chunked, as h11 frames
/// it (a `HEAD` answer gets the `Transfer-Encoding` a `GET` would).
pub fn write_response_head(
    out: &mut Vec<u8>,
    head: &ResponseHead<'_>,
    method: &[u8],
    masked: bool,
    length: Option<usize>,
) -> BodyFraming {
    let tokens = connection_tokens(&head.headers);
    let lowered: Vec<Vec<u8>> = head
        .headers
        .iter()
        .map(|h| h.name.to_ascii_lowercase())
        .collect();
    let dropped = |name: &[u8]| {
        HOP_BY_HOP.contains(&name)
            || (masked && name == b"content-length")
            || tokens.iter().any(|t| t == name)
    };
    let mut fields: Vec<(&[u8], &[u8])> = Vec::new();
    for (name, h) in lowered.iter().zip(&head.headers) {
        if !dropped(name.as_slice()) {
            fields.push((name, &h.value));
        }
    }
    let new_length = length.map(|n| n.to_string().into_bytes());
    if let Some(n) = &new_length {
        fields.push((b"content-length", n));
    }
    let status = head.status;
    let bodyless_status = matches!(status, 204 | 304);
    // h11 chooses the framing as for GET when the request was HEAD
    let connect_ok = method == b"CONNECT" && (200..300).contains(&status);
    let sent_length = fields
        .iter()
        .find(|(n, _)| *n == b"content-length")
        .and_then(|(_, v)| first_length(v));
    if !bodyless_status && !connect_ok && sent_length.is_none() {
        fields.retain(|(n, _)| *n != b"content-length");
        fields.push((b"Transfer-Encoding", b"chunked"));
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.reason);
    out.extend_from_slice(b"\r\n");
    write_headers(out, &fields);
    if bodyless_status || method == b"HEAD" || connect_ok {
        BodyFraming::Length(0)
    } else if let Some(n) = sent_length {
        BodyFraming::Length(n)
    } else {
        BodyFraming::Chunked
    }
}

/// The first item of a `Content-Length` value (h11's `get_comma_header`).
fn first_length(v: &[u8]) -> Option<u128> {
    let first = v
        .split(|&b| b == b',')
        .map(|p| p.trim_ascii())
        .find(|p| !p.is_empty())?;
    if first.is_empty() || first.len() > 20 || !first.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        first
            .iter()
            .fold(0u128, |n, &d| n * 10 + u128::from(d - b'0')),
    )
}
