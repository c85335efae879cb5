"""A value larger than the pump's drive budget is masked on a worker thread
(``limen_pump::OFFLOAD_BYTES``; native/limen-pump/tests/offload.rs shows
the other sessions are served meanwhile). Through the gateway with a real
client and PostgreSQL: such a value comes back masked exactly as the
masker masks it, and the session goes on normally afterwards.
"""

from __future__ import annotations

import psycopg
import pytest
import trio

from gateway_pg_support import Gateway, database, gw
from limen.mask import Masker

__all__ = ["database", "gw"]

SECRET = "AKIAIOSFODNN7EXAMPLE"


@pytest.mark.integration
async def test_a_huge_value_is_masked_like_the_masker_does(gw: Gateway) -> None:
    # Secrets at the start, in the middle and at the end of ~800 kB.
    sql = (
        f"SELECT '{SECRET} ' || repeat('ab1/+', 80000) || ' {SECRET} '"
        f" || repeat('0123 4567 ', 40000) || ' {SECRET}' AS v, 7 AS n"
    )

    def client() -> tuple[str, int, int]:
        with psycopg.connect(gw.dsn(gw.token()), autocommit=True) as conn:
            big = conn.execute(sql).fetchone()
            after = conn.execute("SELECT 41 + 1").fetchone()
        assert big is not None
        assert after is not None
        return big[0], big[1], after[0]

    value, n, after = await trio.to_thread.run_sync(client)
    plain = f"{SECRET} " + "ab1/+" * 80000 + f" {SECRET} " + "0123 4567 " * 40000 + f" {SECRET}"
    # Over the 256 KiB drive budget, under the fixture's 1 MiB message cap.
    assert 3 * 256 * 1024 < len(plain) < 1 << 20
    assert value == Masker().mask(plain)
    assert value.count("[MASKED:aws-access-key-id]") == 3
    assert SECRET not in value
    assert (n, after) == (7, 42)
