"""A comment's event reaches a manager of an account after the post it comments on: a post to more
online readers than a slice (fanout.BULK_SLICE) is written over several loop iterations, and the
``comment`` event to the owner and editors, written at once, overtook it for a manager in a later
slice (the client showed a comment on a post it had not been told of). Events about a post's
comments now queue behind a broadcast under way."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server import fanout
from server.app import App
from tests.e2e.harness import new_id_number
from tests.server.lookups import user


def _hold_broadcasts(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Slices of one session, and none written until the test sets the returned event: the
    broadcast stays under way while the test acts."""
    gate = asyncio.Event()
    real = fanout._Bulk.run

    def held(self: Any) -> None:
        if gate.is_set():
            real(self)
        else:
            asyncio.get_running_loop().call_later(0.01, self.run)

    monkeypatch.setattr(fanout, "BULK_SLICE", 1)
    monkeypatch.setattr(fanout._Bulk, "run", held)
    return gate


async def test_a_comment_reaches_the_owner_after_the_post_it_is_on(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, reader, other = [await user(app, tmp_path, n) for n in (1, 2, 3)]
    await owner.request("verify_identity", legal_name="张三", id_number=new_id_number())
    aid = (await owner.request("create_account", name="茶话", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    for c in (reader, other):
        await c.request("subscribe", account_id=aid)
    await asyncio.sleep(0.2)
    owner.drain_events()
    gate = _hold_broadcasts(monkeypatch)
    try:
        pid = (await owner.request("publish", account_id=aid, title="新帖", body="正文"))["post_id"]
        # (the post's event is queued for its three readers, not written yet)
        await reader.request("comment", post_id=pid, text="沙发")
    finally:
        gate.set()
    first = await owner.next_event()
    second = await owner.next_event()
    assert (first["ev"], first.get("post_id")) == ("post", pid), (first, second)
    assert (second["ev"], second.get("post_id")) == ("comment", pid), second
    for c in (owner, reader, other):
        await c.close()
