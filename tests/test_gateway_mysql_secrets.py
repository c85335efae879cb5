"""Secrets a bot sends through the MySQL gateway never reach the recording
in clear: statement texts are masked by MySQL's own lexer (double-quoted
strings, backslash escapes, executable comments), and the result's column
names, which MySQL derives from the statement text for unaliased
expressions, are masked too; the upstream still gets every secret and the
bot its results."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import trio

from gateway_mysql_support import Gateway, gateway_config, mydb, start_gateway
from limen.identity import Identity
from limen.inmask_mysql import MySqlInputMasker

pytestmark = pytest.mark.mysql
__all__ = ["mydb"]


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path, mydb: str) -> Gateway:
    return await start_gateway(nursery, gateway_config(tmp_path, mydb))


def _plant() -> dict[str, str]:
    h = secrets.token_hex(6)
    return {
        "aes": f"aeskey{h}",
        "pw": f"pwfunc{h}",
        "dq": f"dqtoken{h}",
        "esc": f"esc{h}",
        "aws": "AKIA" + secrets.token_hex(8).upper(),
        "prep": f"prepkey{h}",
        "var": f"varkey{h}",
    }


async def test_planted_secrets_stay_out_of_the_recording(gw: Gateway) -> None:
    s = _plant()

    def client() -> dict[str, tuple[tuple[str, ...], tuple[object, ...]]]:
        out: dict[str, tuple[tuple[str, ...], tuple[object, ...]]] = {}
        with gw.pymysql() as conn, conn.cursor() as cur:
            statements = {
                "aes": f"SELECT HEX(AES_ENCRYPT('data', '{s['aes']}'))",
                "pw": f"SELECT PASSWORD('{s['pw']}') IS NOT NULL",
                "dq": f'SELECT 1 FROM users WHERE api_key = "{s["dq"]}"',
                "esc": f"SELECT LENGTH(AES_ENCRYPT('x', 'it\\'s {s['esc']}'))",
                "aws": f"SELECT '{s['aws']}'",
                "plain": "SELECT CONCAT('a', 'b')",
            }
            for name, sql in statements.items():
                cur.execute(sql)
                assert cur.description is not None
                out[name] = (tuple(d[0] for d in cur.description), tuple(cur.fetchall()))
            # the binary protocol: a prepared statement's column names too
            cur.execute(f"PREPARE p FROM 'SELECT HEX(AES_ENCRYPT(''d'', ''{s['prep']}''))'")
            cur.execute("EXECUTE p")
            assert cur.description is not None
            out["prep"] = (tuple(d[0] for d in cur.description), tuple(cur.fetchall()))
            # a statement kept in a variable for later
            cur.execute(f"SET @q = 'SELECT HEX(AES_ENCRYPT(''d'', ''{s['var']}''))'")
        return out

    got = await trio.to_thread.run_sync(client)
    # The bot gets its results; only the names that held a secret changed.
    assert got["aes"][0] == ("[MASKED:sql-secret]",)
    assert len(got["aes"][1][0][0]) == 32  # the upstream used the real key
    assert got["pw"][0] == ("[MASKED:sql-secret]",)
    assert got["pw"][1] == ((1,),)
    assert got["dq"][1] == ()
    assert got["aws"][0] == ("[MASKED:aws-access-key-id]",)
    assert got["aws"][1] == (("[MASKED:aws-access-key-id]",),)
    assert got["plain"] == (("CONCAT('a', 'b')",), (("ab",),))
    assert got["prep"][0] == ("[MASKED:sql-secret]",)
    recorder = gw.recorders[-1]
    everything = b"\n".join(payload for _kind, payload in recorder.records)
    for name, value in s.items():
        assert value.encode() not in everything, name
    assert b"[MASKED:sql-secret]" in b"".join(recorder.of("c2u"))


async def test_a_statement_without_secrets_keeps_its_names(gw: Gateway) -> None:
    def client() -> tuple[str, ...]:
        with gw.pymysql() as conn, conn.cursor() as cur:
            cur.execute("SELECT UPPER(name), id + 1 FROM users WHERE id = 1")
            assert cur.description is not None
            return tuple(d[0] for d in cur.description)

    names = await trio.to_thread.run_sync(client)
    assert names == ("UPPER(name)", "id + 1")


async def test_mysql_resources_get_the_mysql_masker(gw: Gateway) -> None:
    # Approvers and the log see statements through the MySQL masker: the
    # session's own, or the gateway's built-in one when a session records raw.
    pw = f"heldpw{secrets.token_hex(6)}"
    maskers = gw.gateway.services.input_maskers
    identity = Identity(
        subject="bot", groups=("ci",), issuer="t", expires_at=None, token_id=None, method="dev"
    )
    for masker in (maskers.builtin_mysql, maskers.for_session(identity, "shop")):
        assert isinstance(masker, MySqlInputMasker)
        text = masker.mask_text(f'ALTER USER bot IDENTIFIED BY "{pw}"'.encode())
        assert text == "ALTER USER bot IDENTIFIED BY '[MASKED:sql-secret]'"
