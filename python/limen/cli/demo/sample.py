"""``limen demo --mask-sample``: the masker alone on a sample of query
results, an API response and log lines, before and after."""

from __future__ import annotations

from limen.mask import Masker

SAMPLE = """\
-- psql: SELECT id, email, card, api_key FROM users LIMIT 3;
 id |        email         |        card         |                 api_key
----+----------------------+---------------------+------------------------------------------
  1 | alice@example.com    | 4111 1111 1111 1111 | ghp_16C7e42F292c6912E7710c838347Ae178B4a
  2 | bob.smith@corp.io    | 5555-5555-5555-4444 | sk_live_4eC39HqLyjWDarjtT1zdp7dc
  3 | carol+ci@mail.org    | 378282246310005     | AKIAIOSFODNN7EXAMPLE
(3 rows)

-- GET /v1/customers/42
{"id": 42, "name": "Dana", "phone": "+44 20 7946 0958", "iban": "DE89 3704 0044 0532 0130 00",
 "ssn": "123-45-6789", "session": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.\
SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "request_id": "123e4567-e89b-12d3-a456-426614174000"}

-- app.log
2026-11-26T04:28:11Z INFO connecting to postgresql://app:s3cr3t-pw@db.internal:5432/app
2026-11-26T04:28:12Z DEBUG outbound Authorization: Bearer 9f8e7d6c5b4a39281706abcdef
2026-11-26T04:28:12Z INFO deploy commit 9fceb02d0ae598e95dc970b74767f19372d61af8 ok
2026-11-26T04:28:13Z WARN config: password="hunter2-prod" slack=xoxb-1234567890-123-AbCdEfGhIj
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA7bq98Ja3dLlw0Y6Fv3k2bVvX0kqvOQ1EXAMPLEONLY
-----END RSA PRIVATE KEY-----
"""


def mask_sample(chunk: int) -> int:
    masker = Masker()
    data = SAMPLE.encode()
    stream = masker.stream()
    chunk = max(1, chunk)
    out = b"".join(stream.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    out += stream.finish()
    findings = stream.take_findings()
    assert out == masker.mask(data), "streamed output must equal one-shot output"
    print("=== what the upstream sent " + "=" * 50)
    print(SAMPLE)
    print(f"=== what the bot sees (streamed in {chunk}-byte chunks) " + "=" * 25)
    print(out.decode())
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.detector] = counts.get(f.detector, 0) + 1
    print(f"{len(findings)} findings: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    print("Try it on anything: `limen mask < file`; `limen mask --list` shows the detectors.")
    return 0
