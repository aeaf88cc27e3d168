"""The cluster's wire: batching per destination, cutting at the payload limit, one item per event."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from protocol.codec import EncodedOnce, Encoding
from server.cluster import wire
from server.cluster.remote import NodeLink, RemoteSession


async def _flushed(published: list[bytes]) -> list[list]:
    await asyncio.sleep(0)  # the outbox publishes at the end of the loop iteration
    await asyncio.sleep(0)
    return [list(wire.unpack_stream(m)) for m in published]


@pytest.mark.asyncio
async def test_outbox_sends_one_message_per_loop_iteration_in_order():
    published: list[bytes] = []
    out = wire.Outbox(lambda: ["n1", "i1"], published.append, 1 << 20)
    for i in range(100):
        out.add([wire.REQ, i, f"frame {i}"])
    messages = await _flushed(published)
    assert len(messages) == 1
    header, *items = messages[0]
    assert header == ["n1", "i1"]
    assert [it[1] for it in items] == list(range(100))


@pytest.mark.asyncio
async def test_outbox_cuts_batches_at_the_payload_limit_and_keeps_order():
    published: list[bytes] = []
    out = wire.Outbox(lambda: ["n1", "i1"], published.append, 2000)
    for i in range(50):
        out.add([wire.REQ, i, b"x" * 100])
    messages = await _flushed(published)
    assert len(messages) > 1
    assert all(len(m) <= 2000 for m in published)
    seen = [it[1] for m in messages for it in m[1:]]
    assert seen == list(range(50))
    assert all(m[0] == ["n1", "i1"] for m in messages)  # every part has the header


@pytest.mark.asyncio
async def test_an_event_to_many_connections_of_a_node_is_one_item_with_its_bytes_once():
    published: list[bytes] = []
    link = NodeLink("n2", "i2", lambda: 7, published.append, 1 << 20)
    sessions = [RemoteSession(link, n, "10.0.0.1", Encoding.MSGPACK) for n in range(1, 501)]
    ev = EncodedOnce({"ev": "message", "seq": 1, "text": "你好"})
    for s in sessions:
        s.push(ev)
    sessions[0].send({"re": 5, "ok": True})
    ev2 = EncodedOnce({"ev": "message", "seq": 2})
    for s in sessions:
        s.push(ev2)
    messages = await _flushed(published)
    assert len(messages) == 1
    header, number, *items = messages[0]
    assert header == [7, "i2"]
    assert number == [wire.NUMBER, link.stream, 1]  # (the gateway sees what NATS lost by these)
    kinds = [it[0] for it in items]
    assert kinds == [wire.EVENT, wire.REPLY, wire.EVENT]
    assert items[0][2] == list(range(1, 501)) and items[2][2] == list(range(1, 501))
    assert items[0][1] == ev.get(Encoding.MSGPACK)
    assert items[1][2:] == [1, 5]  # the reply names its connection and settles request 5


@pytest.mark.asyncio
async def test_a_remote_session_keeps_its_own_encoding_and_order():
    published: list[bytes] = []
    link = NodeLink("n2", "i2", lambda: 1, published.append, 1 << 20)
    js = RemoteSession(link, 1, "", Encoding.JSON)
    mp = RemoteSession(link, 2, "", Encoding.MSGPACK)
    ev = EncodedOnce({"ev": "typing", "n": 1})
    js.push(ev)
    mp.push(ev)
    js.close(1008, "bye")
    js.push(ev)  # after close: dropped
    _, _number, *items = (await _flushed(published))[0]
    # (each named, for the gateway's qunguan_events_total: a map's name is its type's, as on the home)
    assert items[0] == [wire.EVENT, ev.get(Encoding.JSON), [1], "dict"]
    assert items[1] == [wire.EVENT, ev.get(Encoding.MSGPACK), [2], "dict"]
    assert items[2] == [wire.CLOSE, 1, 1008, "bye"]
    assert len(items) == 3


def test_a_gateway_delivers_the_payload_it_was_given():
    ev = EncodedOnce.from_payload('{"ev":"x"}')
    assert ev.get(Encoding.JSON) == '{"ev":"x"}'
    assert ev.framed(Encoding.JSON)[2:] == b'{"ev":"x"}'
    packed = EncodedOnce.from_payload(b"\x81\xa2ev\xa1x")
    assert packed.get(Encoding.MSGPACK) == b"\x81\xa2ev\xa1x"


@pytest.mark.asyncio
async def test_an_item_over_the_message_limit_goes_in_pieces_and_comes_out_whole_in_order():
    published: list[bytes] = []
    out = wire.Outbox(lambda: ["n1", "i1", 3], published.append, 2000)
    big = "长" * 5000  # 15,000 bytes: several messages' worth
    out.add([wire.REQ, 1, "before"])
    out.add([wire.REQ, 1, big])
    out.add([wire.REQ, 1, "after"])
    await _flushed(published)
    assert len(published) > 7 and all(len(m) <= 2000 for m in published)
    assembler = wire.Assembler()
    got = []
    for m in published:
        stream = wire.unpack_stream(m)
        assert next(stream) == ["n1", "i1", 3]
        got.extend(assembler.items(stream))
    assert got == [[wire.REQ, 1, "before"], [wire.REQ, 1, big], [wire.REQ, 1, "after"]]

    # A piece lost on the way: that item is dropped, the ones after it come through.
    published.clear()
    out.add([wire.REQ, 2, big])
    out.add([wire.REQ, 2, "next"])
    await _flushed(published)
    del published[2]
    got = []
    for m in published:
        stream = wire.unpack_stream(m)
        next(stream)
        got.extend(assembler.items(stream))
    assert got == [[wire.REQ, 2, "next"]]


def test_a_home_of_the_previous_version_still_reads_a_gateways_header():
    """During a rolling restart nodes of two versions meet: the stamp is an item, after a header
    of the previous version's shape (a home of that version skips an item kind it does not know)."""
    import itertools

    published: list[bytes] = []
    out = wire.Outbox(lambda: ["n2", "i2"], published.append, 1 << 20, stamp=lambda: [wire.STAMP, 4])
    loop = asyncio.new_event_loop()
    try:
        async def one() -> None:
            out.add([wire.ALIVE])
            await asyncio.sleep(0)
        loop.run_until_complete(one())
    finally:
        loop.close()
    stream = wire.unpack_stream(published[0])
    node_id, instance = next(stream)  # the previous version's strict unpacking
    assert (node_id, instance) == ("n2", "i2")
    assert list(itertools.islice(stream, 2)) == [[wire.STAMP, 4], [wire.ALIVE]]
    # (The heartbeat: tests/server/test_cluster_slow_consumer.py reads its first object alone.)


@pytest.mark.asyncio
async def test_catch_up_items_are_shared_only_where_each_connection_keeps_seq_order():
    """A connection owed only m4 put m4 first in the batch; one owed m3 and m4 must get m3 first,
    so it gets m4 on a new item rather than on the earlier one (CI once saw [m4, m3])."""
    published: list[bytes] = []
    link = NodeLink("n2", "i2", lambda: 1, published.append, 1 << 20)
    m = {n: EncodedOnce({"ev": "message", "seq": n}) for n in (2, 3, 4)}
    owed = {1: [4], 2: [3, 4], 3: [2, 3, 4], 4: [3, 4]}  # connection -> the seqs of one group it is owed
    for conn, seqs in owed.items():
        after = -1
        for n in seqs:
            after = link.catch_up(m[n], Encoding.MSGPACK, conn, after)
    _, _number, *items = (await _flushed(published))[0]
    got: dict[int, list[int]] = {}
    for kind, payload, conns, _name in items:
        assert kind == wire.EVENT
        for conn in conns:
            got.setdefault(conn, []).append(msgpack.unpackb(payload)["seq"])
    assert got == owed
    assert len(items) < sum(len(s) for s in owed.values())  # (still shared where order allows)
