"""The hot path's read-through tables: one database read per key however many requests wait or refresh."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from api.hotlink import TtlTable

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """The hot path runs on asyncio (uvloop under granian)."""
    return "asyncio"


class Reads:
    """A blocking read that counts its calls and can be held until released."""

    def __init__(self, value: str = "v1") -> None:
        self.calls = 0
        self.value = value
        self.release = threading.Event()
        self.release.set()
        self.fail = False

    def __call__(self) -> str:
        self.calls += 1
        self.release.wait(5)
        if self.fail:
            raise RuntimeError("database down")
        return self.value


async def test_concurrent_first_requests_read_once() -> None:
    table: TtlTable[str] = TtlTable(size=10, ttl=60)
    reads = Reads()
    reads.release.clear()
    waiting = [asyncio.ensure_future(table.get("ast_1", reads)) for _ in range(100)]
    await asyncio.sleep(0.05)
    reads.release.set()
    assert await asyncio.gather(*waiting) == ["v1"] * 100
    assert reads.calls == 1


async def test_a_stale_value_is_answered_while_one_refresh_runs() -> None:
    table: TtlTable[str] = TtlTable(size=10, ttl=60)
    reads = Reads()
    assert await table.get("ast_1", reads) == "v1"
    table.values["ast_1"] = (time.monotonic() - 1, "v1")  # expired
    reads.value = "v2"
    reads.release.clear()
    # A hundred requests on the stale key: none waits for the database, one refresh starts.
    answers = await asyncio.wait_for(asyncio.gather(*(table.get("ast_1", reads) for _ in range(100))), 1)
    assert answers == ["v1"] * 100
    assert len(table.refreshes) == 1
    await asyncio.sleep(0.1)  # the refresh's thread is reading (and held)
    assert reads.calls == 2
    reads.release.set()
    await asyncio.gather(*table.refreshes.values())
    assert await table.get("ast_1", reads) == "v2"
    assert reads.calls == 2


async def test_forgetting_during_a_read_keeps_the_read_out() -> None:
    table: TtlTable[str] = TtlTable(size=10, ttl=60)
    reads = Reads()
    await table.get("ast_1", reads)
    table.values["ast_1"] = (time.monotonic() - 1, "v1")
    reads.value = "read before the revocation"
    reads.release.clear()
    await table.get("ast_1", reads)  # starts a refresh
    table.forget("ast_1")  # e.g. the asset is revoked in this process meanwhile
    reads.release.set()
    await asyncio.gather(*table.refreshes.values())
    assert "ast_1" not in table.values
    reads.value = "read after"
    assert await table.get("ast_1", reads) == "read after"


async def test_a_request_after_a_forget_does_not_join_a_read_begun_before_it() -> None:
    table: TtlTable[str] = TtlTable(size=10, ttl=60)
    before, after = Reads("public"), Reads("signed URLs only")
    before.release.clear()
    early = asyncio.ensure_future(table.get("ast_1", before))  # a first request, reading
    await asyncio.sleep(0.05)
    table.forget("ast_1")  # the owner changed the rules meanwhile
    late = asyncio.ensure_future(table.get("ast_1", after))  # a request after the change
    assert await asyncio.wait_for(late, 2) == "signed URLs only"
    before.release.set()
    assert await early == "public"  # it asked before the change
    assert table.values["ast_1"][1] == "signed URLs only" and not table.loads
    assert await table.get("ast_1", before) == "signed URLs only"


async def test_a_failed_refresh_keeps_the_last_value_and_a_failed_first_read_raises(
        caplog: pytest.LogCaptureFixture) -> None:
    table: TtlTable[str] = TtlTable(size=10, ttl=60)
    reads = Reads()
    await table.get("ast_1", reads)
    table.values["ast_1"] = (time.monotonic() - 1, "v1")
    reads.fail = True
    assert await table.get("ast_1", reads) == "v1"
    await asyncio.gather(*table.refreshes.values())
    assert table.values["ast_1"][1] == "v1"
    assert "not refreshed" in caplog.text
    with pytest.raises(RuntimeError, match="database down"):
        await table.get("ast_2", reads)
    assert "ast_2" not in table.values and not table.loads


async def test_the_table_is_bounded() -> None:
    table: TtlTable[str] = TtlTable(size=3, ttl=60)
    for number in range(5):
        await table.get(f"ast_{number}", Reads(str(number)))
    assert list(table.values) == ["ast_2", "ast_3", "ast_4"]
