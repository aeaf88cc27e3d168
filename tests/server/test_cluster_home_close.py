"""A stopping home lets the requests it is handling finish, their writes and the events after them,
before it gives the lease back and says RELEASED (docs/scale-out.md, clean stop): it cancelled
them, and a write carried out all the same after its last heartbeat had its events never sent,
with no resync since the hand-over looked clean. Home.close says whether all finished; when some
had to be cut short, the node announces no RELEASED (node.stop). A real home joined by hand to a
gateway in this process (see test_cluster_reused_rid.py)."""

from __future__ import annotations

import asyncio

from server.app import App
from tests.server.test_cluster_reused_rid import joined


async def test_close_waits_for_the_requests_being_handled_and_starts_no_new_one(app: App, tmp_path) -> None:
    home, _, _ = await joined(app, tmp_path)
    done: list[str] = []

    async def handling(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)  # (as a handler awaiting its commit)
        done.append(name)

    task = asyncio.get_running_loop().create_task(handling("in flight", 0.2))
    home._tasks.add(task)
    task.add_done_callback(home._tasks.discard)
    assert await home.close(grace=5) is True
    assert done == ["in flight"]
    home._enqueue(None, object())  # type: ignore[arg-type]  # a request arriving now: not even looked at
    assert not home._tasks


async def test_close_cuts_short_what_outlasts_its_grace_and_says_so(app: App, tmp_path) -> None:
    home, _, _ = await joined(app, tmp_path)
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.sleep(30)  # (a write on a database that does not answer)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.get_running_loop().create_task(stuck())
    home._tasks.add(task)
    task.add_done_callback(home._tasks.discard)
    assert await home.close(grace=0.1) is False
    assert cancelled.is_set() and task.cancelled()


class _Sess:
    def __init__(self, user: object) -> None:
        self.user = user
        self.closed: tuple[int, str] | None = None

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


class _Conn:
    def __init__(self, user: object, token_hash: str) -> None:
        self.sess = _Sess(user)
        self.token_hash = token_hash


async def test_a_token_read_that_fails_after_a_takeover_closes_that_connection_only(app: App, monkeypatch) -> None:
    """The node that took over reads its own connections' tokens again; a read that failed ended
    the task that made it the home, and the node with it: a second failover for every client."""
    from types import SimpleNamespace

    from server.cluster.node import recheck_tokens

    alice, bob, carol = (SimpleNamespace(user_id=u) for u in ("ua", "ub", "uc"))
    owners = {"ta": "ua", "tc": "somebody else"}

    async def token_owner(token_hash: str, _now: int) -> str | None:
        if token_hash == "tb":
            raise OSError("the pool's connection was reset")
        return owners.get(token_hash)

    monkeypatch.setattr(app.store, "token_owner", token_owner)
    conns = [_Conn(alice, "ta"), _Conn(bob, "tb"), _Conn(carol, "tc")]
    await recheck_tokens(app, conns)
    assert [c.sess.closed for c in conns] == [None, (1013, "reconnect"), (1008, "log in again")]
