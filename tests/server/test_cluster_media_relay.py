"""A gateway whose own ``[media] path`` lacks a stored file reads it from the home over NATS, in
pieces (``ClusterNode.media_bytes`` asks, ``Home.on_media`` answers; docs/scale-out.md). Both sides
run in this process on a real server, over a real NATS: the machine's, or a private nats-server
where the broker's message limit matters."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from server.app import App
from server.cluster import home as home_module
from server.cluster import wire
from server.cluster.home import MEDIA_PIECE_MAX, Home
from server.cluster.node import ClusterNode
from server.media.uploads import media_file
from tests.cluster.harness import BROKER, NatsServer, nats_unavailable

pytestmark = pytest.mark.skipif(nats_unavailable() is not None, reason=str(nats_unavailable()))


def _store(app: App, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    path = media_file(app.cfg.media.path, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sha


async def _relay(app: App, url: str) -> tuple[ClusterNode, Home, NATS]:
    """A gateway's ClusterNode and a Home serving its media subject, both on one NATS connection."""
    import nats

    nc = await nats.connect(url)
    subjects = wire.Subjects("t" + secrets.token_hex(4))
    home = Home(app, lambda _subject, _data: None, subjects, 1, 1 << 16)
    await nc.subscribe(subjects.media, cb=home.on_media)
    node = ClusterNode(app)
    node.subjects, node.nc = subjects, nc
    return node, home, nc


async def test_the_home_reads_one_relayed_piece_at_a_time_however_many_gateways_ask(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the home's side needs no read semaphore of its own (a single node's downloads take
    MAX_CONCURRENT_READS): NATS hands the subscription its requests one at a time, so the home
    holds one piece (at most half a NATS message) and one open file whatever the number of
    downloads on however many gateways, each of which takes its own node's limits (server/media/web.py).
    A handler that started a task per request, as on_admin does, would lose that bound."""
    data = secrets.token_bytes(300_000)
    sha = _store(app, data)
    reading = most = 0
    real_piece = home_module._piece

    def piece(path: Path, offset: int, length: int) -> bytes:
        nonlocal reading, most
        reading += 1
        most = max(most, reading)
        try:
            time.sleep(0.01)  # (a slow disk: the requests meanwhile queue up)
            return real_piece(path, offset, length)
        finally:
            reading -= 1

    monkeypatch.setattr(home_module, "_piece", piece)
    node, _, nc = await _relay(app, BROKER)
    gateways = [node] + [_gateway_beside(node) for _ in range(23)]  # (each keeps what it relays: one download each)
    try:
        bodies = await asyncio.gather(*(gateway.media_bytes(sha, len(data)) for gateway in gateways))
    finally:
        await nc.close()
    assert all(b == data for b in bodies)
    assert most == 1, f"the home read {most} relayed pieces at once"


def _relayed() -> tuple[float, float, float]:
    """This process's qunguan_media_relayed_total from memory and from the home, and its kept bytes."""
    from server.metrics import METRICS

    def value(name: str, **labels: str) -> float:
        return METRICS.registry.get_sample_value(name, labels) or 0.0

    return (value("qunguan_media_relayed_total", source="memory"), value("qunguan_media_relayed_total", source="home"),
            value("qunguan_media_relay_kept_bytes"))


def _gateway_beside(node: ClusterNode) -> ClusterNode:
    """Another gateway on ``node``'s NATS connection (its own memory of relayed files)."""
    other = ClusterNode(node.app)
    other.subjects, other.nc = node.subjects, node.nc
    return other


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The offsets of the pieces the home reads from now on."""
    offsets: list[int] = []
    real_piece = home_module._piece

    def piece(path: Path, offset: int, length: int) -> bytes:
        offsets.append(offset)
        time.sleep(0.005)  # (the downloads asking meanwhile find the read under way)
        return real_piece(path, offset, length)

    monkeypatch.setattr(home_module, "_piece", piece)
    return offsets


async def test_downloads_of_one_file_at_once_read_it_from_the_home_once_and_later_ones_from_memory(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """A picture just posted in a large group is downloaded by many members at once through each
    gateway: every download read the whole file from the home again, the home answering one piece at
    a time for all of them. Now a gateway reads it once for the downloads at that moment, keeps it in
    memory (never on its disk), and serves the later ones from there."""
    data = secrets.token_bytes(1_500_000)  # (three pieces on a broker of 1 MiB messages)
    sha = _store(app, data)
    offsets = _counting_reads(monkeypatch)
    node, _, nc = await _relay(app, BROKER)
    before = _relayed()
    try:
        bodies = await asyncio.gather(*(node.media_bytes(sha, len(data)) for _ in range(30)))
        assert all(b == data for b in bodies)
        read_once = sorted(offsets)
        assert read_once[0] == 0 and len(read_once) == len(set(read_once)) == 3, read_once  # (each piece once)
        assert await node.media_bytes(sha, len(data)) == data
        assert len(offsets) == 3, "a later download read the file from the home again"
        assert node.relayed.size == len(data) and node.relayed.hits == 30
        after = _relayed()  # (what an operator sees: qunguan_media_relayed_total, ..._kept_bytes)
        assert (after[0] - before[0], after[1] - before[1], after[2]) == (30, 1, len(data)), (before, after)
        other = _gateway_beside(node)  # (another gateway: its own memory, its own first read)
        assert await other.media_bytes(sha, len(data)) == data and len(offsets) == 6
    finally:
        await nc.close()


async def test_a_gateway_given_no_memory_for_relayed_files_reads_each_download_from_the_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[cluster] media_cache_mb = 0``: nothing kept, each download (one after the other) read again."""
    from server.config import parse_config

    app = App(parse_config({"server": {"port": 0}, "cluster": {"media_cache_mb": 0},
                            "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024}},
                           tmp_path))
    await app.start()
    try:
        data = secrets.token_bytes(200_000)
        sha = _store(app, data)
        offsets = _counting_reads(monkeypatch)
        node, _, nc = await _relay(app, BROKER)
        try:
            for _ in range(3):
                assert await node.media_bytes(sha, len(data)) == data
        finally:
            await nc.close()
        assert offsets == [0, 0, 0] and node.relayed.size == 0
    finally:
        await app.stop()


async def test_an_empty_file_is_relayed_as_empty(app: App) -> None:
    """upload_begin refuses a size under 1 (docs/protocol.md), so no stored file is empty; were one,
    the gateway would have nothing to ask the home and serve it as zero bytes, not hang or fail."""
    sha = _store(app, b"")
    node, _, nc = await _relay(app, BROKER)
    try:
        assert await asyncio.wait_for(node.media_bytes(sha, 0), 5) == b""
    finally:
        await nc.close()


async def test_a_file_over_the_homes_piece_limit_is_relayed_on_a_broker_with_a_large_message_limit(
        app: App, tmp_path: Path) -> None:
    """The gateway asked for pieces of half the broker's max_payload, the home answers at most
    MEDIA_PIECE_MAX (8 MiB) and nothing at all past it: on a broker whose limit is over 16 MiB
    (nats-server allows up to 64 MiB) every file over 8 MiB read through a gateway was taken for
    missing, a 404 and "its file is missing" in the log, though the home had it."""
    if NatsServer.missing():
        pytest.skip(str(NatsServer.missing()))
    conf = tmp_path / "nats.conf"
    conf.write_text("max_payload: 33554432\n", encoding="utf-8")  # 32 MiB: pieces of 16 MiB asked
    broker = NatsServer(config_file=conf).start()
    try:
        data = secrets.token_bytes(MEDIA_PIECE_MAX + 1_000_000)
        sha = _store(app, data)
        node, _, nc = await _relay(app, broker.url)
        try:
            assert nc.max_payload == 33554432
            got = await node.media_bytes(sha, len(data))
        finally:
            await nc.close()
        assert got is not None, "the home's file was taken for missing"
        assert got == data
    finally:
        broker.kill9()
