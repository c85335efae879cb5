//! The built-in detectors.
//!
//! Each detector has a stable name (it appears in `[MASKED:<name>]`, in
//! findings and in configuration), a *head* pattern compiled into the one
//! shared automaton, an optional validator run only on candidates, and an
//! optional *tail* for secrets whose length has no useful bound (a PEM block,
//! a JWT, a bearer token): after the head matches, the tail keeps masking
//! while bytes belong to a class, or until a terminator, up to a cap.
//!
//! Heads are written in byte mode (no Unicode classes, ASCII `\b`), so the
//! lazy DFA never has to give up on non-ASCII input, and every repetition is
//! bounded: the longest head bounds how much a stream holds back.
//!
//! When a head has capture groups, the first group that took part in the
//! match is the secret (so `password=hunter2` keeps `password=` and masks
//! `hunter2`); otherwise the whole match is.

use crate::validate::Validator;

/// How a detector's masked span continues past its head.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TailSpec {
    None,
    /// Keep masking while bytes are in these inclusive ranges, up to `cap` bytes.
    Class(&'static [(u8, u8)], usize),
    /// Keep masking through the first match of this (bounded) pattern that
    /// ends within `cap` bytes; if none does, mask `cap` bytes.
    Until(&'static str, usize),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub name: &'static str,
    pub description: &'static str,
    pub pattern: &'static str,
    pub validator: Validator,
    pub tail: TailSpec,
}

const JWT_TAIL: &[(u8, u8)] = &[
    (b'A', b'Z'),
    (b'a', b'z'),
    (b'0', b'9'),
    (b'_', b'_'),
    (b'-', b'-'),
    (b'.', b'.'),
];
const TOKEN68: &[(u8, u8)] = &[
    (b'A', b'Z'),
    (b'a', b'z'),
    (b'0', b'9'),
    (b'_', b'_'),
    (b'-', b'-'),
    (b'.', b'.'),
    (b'~', b'~'),
    (b'+', b'+'),
    (b'/', b'/'),
    (b'=', b'='),
];

/// The built-in detectors, in priority order: when two heads match at the
/// same position, the earlier one wins.
pub(crate) const BUILTIN: &[Spec] = &[
    Spec {
        name: "pem-private-key",
        description: "PEM private key blocks (RSA, EC, OpenSSH, PKCS#8, encrypted, PGP), BEGIN to END",
        pattern: r"-----BEGIN[ A-Z0-9]{0,40} PRIVATE KEY(?: BLOCK)?-----",
        validator: Validator::None,
        tail: TailSpec::Until(r"-----END[ A-Z0-9]{0,40} PRIVATE KEY(?: BLOCK)?-----", 64 * 1024),
    },
    Spec {
        name: "jwt",
        description: "JSON Web Tokens (header.payload.signature, base64url)",
        pattern: r"\beyJ[A-Za-z0-9_-]{8,1024}\.eyJ[A-Za-z0-9_-]{4}",
        validator: Validator::None,
        tail: TailSpec::Class(JWT_TAIL, 16 * 1024),
    },
    Spec {
        name: "github-fine-grained-token",
        description: "GitHub fine-grained personal access tokens (github_pat_...)",
        pattern: r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "github-token",
        description: "GitHub classic tokens: personal (ghp_), OAuth (gho_), user-to-server (ghu_), server-to-server (ghs_), refresh (ghr_)",
        pattern: r"\bgh[pousr]_[A-Za-z0-9]{36,251}\b",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "gitlab-token",
        description: "GitLab tokens (glpat-, gldt-, glrt-, glptt-, glcbt-, glft-, glsoat-, glimt-, gloas-, glagent-, glffct-, GR1348941 runner registration)",
        pattern: r"\b(?:(?:glpat|gldt|glrt|glrtr|glptt|glcbt|glft|glsoat|glimt|gloas|glagent|glffct|glwt)-[A-Za-z0-9_-]{20,300}(?:\.[0-9a-z]{2}\.[0-9a-z]{9})?|GR1348941[A-Za-z0-9_-]{20,64})",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "slack-webhook",
        description: "Slack incoming webhook and workflow URLs",
        pattern: r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{16,256}",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "slack-token",
        description: "Slack bot, user, app and configuration tokens (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xapp-)",
        pattern: r"\b(?:xox[abposre](?:\.xox[abposre])?-[0-9A-Za-z-]{10,255}|xapp-[0-9]-[0-9A-Za-z-]{10,255})",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "stripe-key",
        description: "Stripe secret and restricted keys (sk_live_, sk_test_, rk_live_, rk_test_) and webhook secrets (whsec_)",
        pattern: r"\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}|whsec_[A-Za-z0-9]{24,64})\b",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "google-api-key",
        description: "Google API keys (AIza...)",
        pattern: r"\bAIza[0-9A-Za-z_-]{35}",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "anthropic-api-key",
        description: "Anthropic API and admin keys (sk-ant-api03-..., sk-ant-admin01-...)",
        pattern: r"\bsk-ant-(?:api|admin|oat|sid)[0-9]{2}-[A-Za-z0-9_-]{32,200}",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "openai-api-key",
        description: "OpenAI API keys (sk-proj-, sk-svcacct-, sk-admin-, legacy sk-...T3BlbkFJ...)",
        pattern: r"\bsk-(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,200}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}\b|[A-Za-z0-9]{48}\b)",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "aws-access-key-id",
        description: "AWS access key ids (AKIA, ASIA and the other IAM unique-id prefixes)",
        pattern: r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}\b",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "aws-secret-access-key",
        description: "AWS secret access keys, where a key name says so (aws_secret_access_key = ...)",
        pattern: r#"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)["']?[ \t]{0,3}[:=>][ \t]{0,3}["']?([A-Za-z0-9/+]{40})"#,
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "url-credentials",
        description: "passwords inside URLs (scheme://user:password@host)",
        pattern: r#"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/?#@"'<>]{1,128}:([^\s/?#@"'<>]{1,256})@"#,
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "bearer-token",
        description: "credentials in Authorization headers (Bearer, Basic, token) and bare Bearer tokens",
        pattern: r#"(?:(?i:authorization)["']?[ \t]{0,3}[:=][ \t]{0,3}["']?(?:(?i:bearer|basic|token|digest|negotiate)[ \t]{1,8})?|\b(?i:bearer)[ \t]{1,8})([A-Za-z0-9_~+/.=-]{12})"#,
        validator: Validator::None,
        tail: TailSpec::Class(TOKEN68, 8 * 1024),
    },
    Spec {
        name: "password-assignment",
        description: "values assigned to password, secret, token and API-key fields (key=value, key: value, JSON, JSON inside JSON, SQL PASSWORD '...' and IDENTIFIED BY '...')",
        pattern: r#"(?i:passw(?:or)?d|passphrase|pwd|secret(?:_?key)?|client_?secret|api_?key|access_?token|auth_?token|refresh_?token|private_?key|credentials?|token)\\?["']?[ \t]{0,3}[:=][ \t]{0,3}(?:\\?"([^"\\\r\n]{1,256})\\?"|\\?'([^'\\\r\n]{1,256})\\?'|([^\s"',;&<>{}()\[\]\\]{3,256}))|\b(?i:password|identified[ \t]{1,3}by)[ \t]{1,3}'([^'\r\n]{1,256})'"#,
        validator: Validator::Assignment,
        tail: TailSpec::None,
    },
    Spec {
        name: "card-number",
        description: "payment card numbers (Luhn-checked, known issuers, digits or groups with spaces or dashes)",
        pattern: r"\b[0-9](?:[ -]?[0-9]){12,22}\b",
        validator: Validator::Card,
        tail: TailSpec::None,
    },
    Spec {
        name: "us-ssn",
        description: "US social security numbers (AAA-GG-SSSS, invalid areas excluded)",
        pattern: r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
        validator: Validator::Ssn,
        tail: TailSpec::None,
    },
    Spec {
        name: "iban",
        description: "international bank account numbers (country length and mod-97 checked)",
        pattern: r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
        validator: Validator::Iban,
        tail: TailSpec::None,
    },
    Spec {
        name: "email",
        description: "email addresses",
        pattern: r"\b[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63}){0,6}\.[A-Za-z]{2,24}\b",
        validator: Validator::None,
        tail: TailSpec::None,
    },
    Spec {
        name: "phone-number",
        description: "international phone numbers (+ country code, 8 to 15 digits)",
        pattern: r"\B\+[1-9](?:[ .-]?\(?[0-9]\)?){7,14}\b",
        validator: Validator::Phone,
        tail: TailSpec::None,
    },
];

/// Tighter triggers (see `trigger.rs`) for detectors whose validator rules
/// out most head matches. Each must match at the start of every span the
/// detector accepts:
/// - `card-number`: the validator accepts 13 to 19 digits with a known
///   issuer, whose first two digits are one of 40-49, 51-55, 22-27 (the
///   2-series Mastercard range 2221-2720), 30 and 34-39 (Diners, Amex,
///   JCB), 60, 62, 64 and 65 (Discover, UnionPay). The digits come either
///   with no separator (so 13 in a row) or in groups with one separator
///   throughout: a first group of 4, then a group of 4 or 6 (a two-group
///   number has at most 4 + 6 digits, too few). After a second group of
///   4 the third has at least 4 digits (4 + 4 + 3 is too few), and either
///   is the last (5 or 6 digits) or a middle one followed by a fourth;
///   after a second group of 6 the third has at least 3 (13 digits).
///   Amex (34, 37) has exactly 15 digits, so the whole number is asked
///   for: 15 in a row, or grouped 4-6-5, 4-4-4-3, 4-4-6-1 or 4-6-4-1,
///   ending at a word boundary (the head's own `\b`, or a separator where
///   the validator cuts);
/// - `phone-number`: the head takes the first digit and 7 to 14 more (the
///   trigger asks for the first 7; a `+` and a few digits, as in
///   `+1 234`, is then no candidate).
/// - `github-token` and `openai-api-key`: a body of at least 36 (GitHub)
///   or 20 (OpenAI, but for the `proj-`-like forms) letters and digits
///   follows the prefix; the trigger asks for the first 12 of them (the
///   relaxed head would ask for 3). Prefixes glued to each other or to a
///   short body (`sk-proj-sk-ghp_AKIAAIza...`) are then no candidates, and
///   a near-miss that still is one spans at least 16 bytes. Both counters
///   count the same class, so the reversed automaton tracks one run length
///   for them (its cold first pass over random base64 builds about twice as
///   many states; warm, the walk is one transition per byte as before).
pub(crate) fn trigger_override(name: &str) -> Option<&'static str> {
    match name {
        "card-number" => Some(concat!(
            r"\b(?:(?:4[0-9]|5[1-5]|2[2-7]|3[05689]|6[0245])",
            r"(?:[0-9]{11}",
            r"|[0-9]{2}(?: [0-9]{4} [0-9]{4}(?:[0-9]| [0-9])| [0-9]{6} [0-9]{3})",
            r"|[0-9]{2}(?:-[0-9]{4}-[0-9]{4}(?:[0-9]|-[0-9])|-[0-9]{6}-[0-9]{3}))",
            r"|3[47](?:[0-9]{13}\b",
            r"|[0-9]{2} (?:[0-9]{4} (?:[0-9]{4} [0-9]{3}|[0-9]{6} [0-9])|[0-9]{6} (?:[0-9]{5}|[0-9]{4} [0-9]))\b",
            r"|[0-9]{2}-(?:[0-9]{4}-(?:[0-9]{4}-[0-9]{3}|[0-9]{6}-[0-9])|[0-9]{6}-(?:[0-9]{5}|[0-9]{4}-[0-9]))\b))",
        )),
        "phone-number" => Some(r"\B\+[1-9](?:[ .-]?\(?[0-9]\)?){7}"),
        "github-token" => Some(r"\bgh[pousr]_[A-Za-z0-9]{12}"),
        "openai-api-key" => {
            Some(r"\bsk-(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{3}|[A-Za-z0-9]{12})")
        }
        _ => None,
    }
}
