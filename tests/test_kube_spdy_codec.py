"""The SPDY/3.1 codec (limen.gateway.kube.spdy) and the exec pump
(limen.gateway.kube.spdyrelay): frames and header blocks round-trip, the
dictionary is the spec's (zlib checks its id), refusals fail closed, any
bytes only raise the decoder's own error, and stdout is masked whole
across frames while the other frames pass as they came."""

from __future__ import annotations

import contextlib
import struct
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from limen import _native
from limen.gateway.kube.spdy import (
    DATA,
    DICTIONARY,
    FLAG_FIN,
    GOAWAY,
    PING,
    RST_STREAM,
    SYN_REPLY,
    SYN_STREAM,
    WINDOW_UPDATE,
    Frame,
    FrameReader,
    HeaderDecoder,
    HeaderEncoder,
    SpdyError,
    control,
    data_frame,
)
from limen.gateway.kube.spdyrelay import SpdyPump
from limen.gateway.kube.upgrade import StreamError
from limen.recording import C2U, U2C

AWS_KEY = b"AKIAIOSFODNN7EXAMPLE"


def syn_stream(enc: HeaderEncoder, stream: int, headers: dict[str, list[str]]) -> bytes:
    payload = struct.pack("!IIBB", stream, 0, 0, 0) + enc.encode(headers)
    return control(SYN_STREAM, 0, payload)


def syn_reply(enc: HeaderEncoder, stream: int) -> bytes:
    return control(SYN_REPLY, 0, struct.pack("!I", stream) + enc.encode({}))


def test_dictionary_is_the_specs() -> None:
    assert len(DICTIONARY) == 1423
    assert zlib.adler32(DICTIONARY) == 3821447106  # the id kubectl's header blocks name
    assert DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_header_blocks_round_trip_in_order() -> None:
    enc, dec = HeaderEncoder(), HeaderDecoder(limit=65536)
    blocks = [{"streamtype": ["stdout"]}, {"streamtype": ["error"], "port": ["80", "81"]}, {}]
    for headers in blocks:  # one zlib stream: each block needs the ones before it
        assert dec.decode(enc.encode(headers)) == headers
    fresh = HeaderDecoder(limit=65536)
    enc2 = HeaderEncoder()
    enc2.encode({"a": ["1"]})
    with pytest.raises(SpdyError):  # the second block alone cannot inflate
        fresh.decode(enc2.encode({"streamtype": ["stdin"]}))


def test_header_block_refusals() -> None:
    def block(plain: bytes) -> bytes:
        z = zlib.compressobj(zdict=DICTIONARY)
        return z.compress(plain) + z.flush(zlib.Z_SYNC_FLUSH)

    pair = struct.pack("!I", 1) + b"A" + struct.pack("!I", 1) + b"v"
    with pytest.raises(SpdyError, match="lowercase"):
        HeaderDecoder(limit=100).decode(block(struct.pack("!I", 1) + pair))
    twice = struct.pack("!I", 2) + (struct.pack("!I", 1) + b"a" + struct.pack("!I", 0)) * 2
    with pytest.raises(SpdyError, match="twice"):
        HeaderDecoder(limit=100).decode(block(twice))
    with pytest.raises(SpdyError, match="cut short"):
        HeaderDecoder(limit=100).decode(block(struct.pack("!I", 5)))
    bomb = struct.pack("!II", 1, 1) + b"a" + struct.pack("!I", 5000) + b"x" * 5000
    with pytest.raises(SpdyError, match="over 1000"):
        HeaderDecoder(limit=1000).decode(block(bomb))


def test_frames_round_trip_in_pieces() -> None:
    enc = HeaderEncoder()
    wire = [
        syn_stream(enc, 1, {"streamtype": ["error"]}),
        data_frame(1, FLAG_FIN, b"x" * 300),
        control(PING, 0, struct.pack("!I", 7)),
        control(WINDOW_UPDATE, 0, struct.pack("!II", 0, 1000)),
        control(RST_STREAM, 0, struct.pack("!II", 3, 5)),
        control(GOAWAY, 0, struct.pack("!II", 1, 0)),
    ]
    joined = b"".join(wire)
    reader = FrameReader(limit=1 << 16)
    got: list[Frame] = []
    for i in range(0, len(joined), 7):
        got += reader.feed(joined[i : i + 7])
    assert [f.raw for f in got] == wire
    assert [(f.kind, f.stream) for f in got] == [
        (SYN_STREAM, 1),
        (DATA, 1),
        (PING, 0),
        (WINDOW_UPDATE, 0),
        (RST_STREAM, 3),
        (GOAWAY, 1),
    ]
    assert got[1].fin
    assert got[1].payload == b"x" * 300
    assert HeaderDecoder(limit=100).decode(got[0].header_block()) == {"streamtype": ["error"]}


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (struct.pack("!II", 0x80020001, 10) + b"\0" * 10, "version 2"),
        (struct.pack("!II", 0x8003000A, 0), "unknown type 10"),  # CREDENTIAL: gone in 3.1
        (control(PING, 0, b"\0" * 5), "with 5 bytes"),
        (control(PING, 1, b"\0" * 4), "flags"),
        (data_frame(1, 0x02, b""), "flags"),
        (data_frame(0, 0, b""), "stream 0"),
        (control(SYN_STREAM, 0, b"\0" * 4), "too short"),
        (struct.pack("!II", 1, 2000), "over the limit"),
        (control(4, 0, struct.pack("!I", 2) + b"\0" * 8), "SETTINGS"),
    ],
)
def test_frame_refusals(wire: bytes, why: str) -> None:
    with pytest.raises(SpdyError, match=why):
        FrameReader(limit=1000).feed(wire)


@given(st.binary(max_size=400))
def test_frame_reader_is_total(data: bytes) -> None:
    """Any bytes give frames or SpdyError; never another error."""
    with contextlib.suppress(SpdyError):
        FrameReader(limit=1000).feed(data)


@given(st.binary(max_size=400))
def test_header_decoder_is_total(data: bytes) -> None:
    dec = HeaderDecoder(limit=1000)
    with contextlib.suppress(SpdyError):
        dec.decode(data)
    with contextlib.suppress(SpdyError):  # and after a block that did inflate
        dec2 = HeaderDecoder(limit=1000)
        dec2.decode(HeaderEncoder().encode({"a": ["b"]}))
        dec2.decode(data)


@given(
    st.lists(
        st.tuples(st.integers(1, 2**31 - 1), st.booleans(), st.binary(max_size=200)), max_size=8
    ),
    st.integers(1, 50),
)
def test_data_frames_round_trip_property(items: list[tuple[int, bool, bytes]], piece: int) -> None:
    wire = b"".join(data_frame(s, FLAG_FIN if fin else 0, d) for s, fin, d in items)
    reader = FrameReader(limit=1000)
    got: list[Frame] = []
    for i in range(0, len(wire), piece):
        got += reader.feed(wire[i : i + piece])
    assert [(f.stream, f.fin, f.payload) for f in got] == items


# -- the pump ------------------------------------------------------------------


class _Session:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.input_masker = None

    def event(self, obj: dict[str, Any]) -> None:
        self.events.append(obj)


class _Relay:
    """What SpdyPump uses of an HttpRelay."""

    def __init__(self, masker: _native.Masker | None) -> None:
        self.session = _Session()
        self.masker = masker
        self.discard_limit = 1 << 16
        self.records: list[tuple[str, bytes]] = []

    def record(self, kind: str, data: bytes, *, masked: bool = False) -> None:
        self.records.append((kind, data))

    def mask_input(self, data: bytes) -> bytes:
        return data


def _pump(masker: _native.Masker | None = None) -> tuple[SpdyPump, _Relay]:
    relay = _Relay(masker)
    return SpdyPump(relay), relay  # type: ignore[arg-type]


def _open(pump: SpdyPump, kubectl: HeaderEncoder, server: HeaderEncoder) -> None:
    for stream, kind in ((1, "error"), (3, "stdin"), (5, "stdout")):
        wire = syn_stream(kubectl, stream, {"streamtype": [kind]})
        assert pump.from_client(wire) == wire  # kubectl's frames pass as they came
        reply = syn_reply(server, stream)
        assert pump.from_upstream(reply) == reply


def test_pump_masks_a_secret_cut_across_frames() -> None:
    pump, relay = _pump(_native.Masker(["builtin"], [], [], []))
    kubectl, server = HeaderEncoder(), HeaderEncoder()
    _open(pump, kubectl, server)
    out = pump.from_upstream(data_frame(5, 0, b"key " + AWS_KEY[:9]))
    out += pump.from_upstream(data_frame(5, 0, AWS_KEY[9:] + b"\n"))
    out += pump.from_upstream(data_frame(5, FLAG_FIN, b""))
    frames = FrameReader(limit=1 << 16).feed(out)
    text = b"".join(f.payload for f in frames)
    assert text.startswith(b"key ")
    assert text.endswith(b"\n")
    assert AWS_KEY not in text
    assert frames[-1].fin
    assert {f.stream for f in frames} == {5}
    assert AWS_KEY not in b"".join(p for _, p in relay.records)
    typed = data_frame(3, 0, b"ls -l\n")
    assert pump.from_client(typed) == typed
    assert (C2U, b"ls -l\n") in relay.records
    status = data_frame(1, FLAG_FIN, b'{"status":"Success"}')
    assert pump.from_upstream(status) == status
    assert [e["type"] for e in relay.session.events] == ["error", "stdin", "stdout"]


def test_pump_flushes_the_tail_before_the_status() -> None:
    pump, relay = _pump(_native.Masker(["builtin"], [], [], []))
    kubectl, server = HeaderEncoder(), HeaderEncoder()
    _open(pump, kubectl, server)
    first = pump.from_upstream(data_frame(5, 0, b"partial AKIA"))
    rest = pump.from_upstream(data_frame(1, FLAG_FIN, b"{}"))
    frames = FrameReader(limit=1 << 16).feed(first + rest)
    assert b"".join(f.payload for f in frames if f.stream == 5) == b"partial AKIA"
    assert frames[-1].stream == 1  # the status after stdout's tail
    assert b"".join(p for k, p in relay.records if k == U2C) == b"partial AKIA"


@pytest.mark.parametrize(
    ("side", "make", "why"),
    [
        ("client", lambda k, s: syn_stream(k, 7, {"streamtype": ["shell"]}), "unknown type"),
        ("client", lambda k, s: syn_stream(k, 3, {"streamtype": ["stdin"]}), "opened before"),
        ("client", lambda k, s: syn_stream(k, 8, {"streamtype": ["stdin"]}), "even"),
        ("client", lambda k, s: data_frame(9, 0, b"x"), "never opened"),
        ("upstream", lambda k, s: syn_stream(s, 2, {"streamtype": ["stdout"]}), "opened a stream"),
        ("upstream", lambda k, s: data_frame(11, 0, b"x"), "never opened"),
        ("upstream", lambda k, s: control(SYN_REPLY, 0, b"\0\0\0\1junk"), "cut short|inflate"),
    ],
)
def test_pump_refusals(side: str, make: Any, why: str) -> None:
    pump, _ = _pump()
    kubectl, server = HeaderEncoder(), HeaderEncoder()
    _open(pump, kubectl, server)
    feed = pump.from_client if side == "client" else pump.from_upstream
    with pytest.raises(StreamError, match=why):
        feed(make(kubectl, server))


def test_pump_caps_streams() -> None:
    pump, _ = _pump()
    kubectl = HeaderEncoder()
    wire = b"".join(syn_stream(kubectl, 2 * i + 1, {"streamtype": ["data"]}) for i in range(256))
    pump.from_client(wire)
    with pytest.raises(StreamError, match="more than 256"):
        pump.from_client(syn_stream(kubectl, 513, {"streamtype": ["data"]}))


@given(st.binary(max_size=400), st.binary(max_size=400))
def test_pump_is_total(client: bytes, upstream: bytes) -> None:
    """After a real opening, any bytes either way give bytes or StreamError."""
    pump, _ = _pump(_native.Masker(["builtin"], [], [], []))
    _open(pump, HeaderEncoder(), HeaderEncoder())
    with contextlib.suppress(StreamError):
        pump.from_client(client)
    with contextlib.suppress(StreamError):
        pump.from_upstream(upstream)
    pump.end()
    pump.done()


@given(
    st.lists(
        st.tuples(
            st.sampled_from([1, 3, 5]),
            st.booleans(),
            st.one_of(
                st.binary(max_size=60),
                st.sampled_from([b"key " + AWS_KEY + b"\n", AWS_KEY[:7], AWS_KEY[7:] + b" "]),
            ),
        ),
        max_size=12,
    )
)
def test_pump_output_is_valid_spdy(items: list[tuple[int, bool, bytes]]) -> None:
    """Whatever data the API server sends on the opened streams, kubectl
    gets well-formed frames, stream by stream in order, and the text of
    stdout is the masked text of what was sent."""
    masker = _native.Masker(["builtin"], [], [], [])
    pump, _ = _pump(masker)
    _open(pump, HeaderEncoder(), HeaderEncoder())
    sent: dict[int, bytes] = {1: b"", 3: b""}
    segments = [b""]  # stdout's text between FINs (each masked on its own)
    out = b""
    for stream, fin, data in items:
        out += pump.from_upstream(data_frame(stream, FLAG_FIN if fin else 0, data))
        if stream == 5:
            segments[-1] += data
            if fin:
                segments.append(b"")
        else:
            sent[stream] += data
    out += pump.end()
    frames = FrameReader(limit=1 << 16).feed(out)
    assert all(f.kind == DATA for f in frames)
    got = {s: b"".join(f.payload for f in frames if f.stream == s) for s in (1, 3, 5)}
    assert got[1] == sent[1]  # the error stream is not masked
    assert got[3] == sent[3]  # nor stdin's (the server sends none; passed as it came)
    assert got[5] == b"".join(masker.mask(seg) for seg in segments)
