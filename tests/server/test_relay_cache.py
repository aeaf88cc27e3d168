"""A gateway's memory of the files it relayed from the home (server/cluster/relay_cache.py): bounded in
bytes and in time, one read from the home for the downloads that want a file at the same moment, each
of them given what that read gave (bytes, None, or its failure), and a download given up does not
cancel the read the others wait for. (Over a real NATS, with a real home: test_cluster_media_relay.py.)"""

from __future__ import annotations

import asyncio

import pytest

from server.cluster.relay_cache import KEPT_SECONDS, LARGEST_SHARE, RelayCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_files_leave_after_their_time_and_the_oldest_go_first_past_the_bound() -> None:
    clock = Clock()
    cache = RelayCache(1000, clock)
    cache.put("a", b"x" * 200)
    clock.now += 10
    cache.put("b", b"y" * 200)
    assert cache.get("a") == b"x" * 200 and cache.size == 400
    cache.put("c", b"z" * 200)
    cache.put("d", b"w" * 200)
    cache.put("e", b"v" * 201)  # (1,001 bytes: the oldest, a, goes)
    assert cache.get("a") is None and cache.get("b") is not None and cache.size == 801
    clock.now += KEPT_SECONDS - 10  # (a's time, had it stayed; b came 10 s later)
    cache.sweep()
    assert cache.get("b") is not None
    clock.now += 10
    assert cache.get("b") is None and cache.get("c") is None and len(cache) == 0 and cache.size == 0


@pytest.mark.parametrize(("size", "kept"), [(1000 // LARGEST_SHARE, True), (1000 // LARGEST_SHARE + 1, False)])
def test_a_file_over_its_share_of_the_memory_is_not_kept(size: int, kept: bool) -> None:
    cache = RelayCache(1000)
    cache.put("a", b"x" * size)
    assert (cache.get("a") is not None) is kept


def test_no_memory_keeps_nothing() -> None:
    cache = RelayCache(0)
    cache.put("a", b"x")
    assert cache.get("a") is None and cache.size == 0


async def test_downloads_at_once_share_one_read_and_later_ones_are_served_from_memory() -> None:
    cache = RelayCache(1 << 20)
    reads = 0
    gate = asyncio.Event()

    async def from_home() -> bytes | None:
        nonlocal reads
        reads += 1
        await gate.wait()
        return b"data"

    waiting = [asyncio.create_task(cache.read("a", 4, from_home)) for _ in range(10)]
    await asyncio.sleep(0.01)
    waiting[3].cancel()  # (one client gives up: the others still get the bytes)
    gate.set()
    done = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(done[3], asyncio.CancelledError)
    assert [d for i, d in enumerate(done) if i != 3] == [b"data"] * 9 and reads == 1
    assert await cache.read("a", 4, from_home) == b"data" and reads == 1
    assert await cache.read("a", 5, from_home) == b"data" and reads == 2  # (not the size asked: read again)


async def test_a_failed_read_fails_every_download_waiting_for_it_and_the_next_reads_again() -> None:
    cache = RelayCache(1 << 20)
    gate = asyncio.Event()
    reads = 0

    async def unreachable() -> bytes | None:
        nonlocal reads
        reads += 1
        await gate.wait()
        raise ConnectionError("no home")

    waiting = [asyncio.create_task(cache.read("a", 4, unreachable)) for _ in range(3)]
    await asyncio.sleep(0.01)
    gate.set()
    done = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(d, ConnectionError) for d in done) and reads == 1

    async def missing() -> bytes | None:
        return None

    assert await cache.read("a", 4, missing) is None and cache.get("a") is None  # (nothing kept of a file not there)


async def test_the_download_that_started_a_read_giving_up_does_not_fail_the_others() -> None:
    """The first download of a file ran the read from the home itself: cancelled (its client gone, or
    the handshake's time up on a large file), it failed every other download waiting for that read
    with its cancellation. The read is a task of its own now; the others get the bytes, and they are kept."""
    cache = RelayCache(1 << 20)
    gate = asyncio.Event()
    reads = 0

    async def from_home() -> bytes | None:
        nonlocal reads
        reads += 1
        await gate.wait()
        return b"data"

    first = asyncio.create_task(cache.read("a", 4, from_home))
    await asyncio.sleep(0.01)
    others = [asyncio.create_task(cache.read("a", 4, from_home)) for _ in range(4)]
    timed_out = asyncio.create_task(asyncio.wait_for(cache.read("a", 4, from_home), 0.01))
    await asyncio.sleep(0.05)
    first.cancel()
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*others) == [b"data"] * 4 and reads == 1
    with pytest.raises(asyncio.CancelledError):
        await first
    with pytest.raises(TimeoutError):
        await timed_out
    assert cache.get("a") == b"data"
