"""What changed in messages already shown while the connection was down (**[ext]** ``message_changes``).

A group's cursor is taken once its messages are first shown: changes after it come live while the
connection is up, and each live change moves the cursor on (:meth:`ChangeCursors.moved`), so a drop
later does not print again what was shown live. After a drop, the catch-up asks what changed since
the cursor (edits, recalls and removals, reactions, held messages released) in the messages shown
before the drop, and prints each once, as it reads now; then it keeps the new cursor.
"""

from __future__ import annotations

import asyncio
from typing import Any

from client_demo.client import Client, RequestError

# Refusals that mean the user can no longer read the group: the catch-up forgets it.
GONE = ("not_member", "not_found", "group_closed")
PAGE = 500


class ChangeCursors:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.by_group: dict[str, int] = {}
        self._asking: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()  # groups that changed live while their cursor was being asked
        self.unknown = False  # the server does not know the op: asked no more

    def want(self, client: Client | None, gid: str) -> None:
        """Take ``gid``'s cursor now, unless it is held or being asked."""
        if client is None or self.unknown or gid in self.by_group or gid in self._asking:
            return
        self._ask(client, gid)

    def moved(self, client: Client | None, gid: str) -> None:
        """A change in ``gid`` was shown live: its cursor is taken again, so that a catch-up after a
        later drop starts past it. Asked once at a time per group (a change meanwhile asks once more
        when the answer is in); a group without a cursor keeps none."""
        if client is None or self.unknown or gid not in self.by_group:
            return
        if gid in self._asking:
            self._again.add(gid)
            return
        self._ask(client, gid)

    def _ask(self, client: Client, gid: str) -> None:
        """Ask ``gid``'s cursor in a task of its own (none without a running loop: nothing to ask on)."""
        try:
            task = asyncio.get_running_loop().create_task(self._take(client, gid))
        except RuntimeError:
            return
        self._asking[gid] = task

        def done(_: object) -> None:
            self._asking.pop(gid, None)
            if gid in self._again:
                self._again.discard(gid)
                self.moved(client, gid)

        task.add_done_callback(done)

    async def _take(self, client: Client, gid: str) -> None:
        try:
            r = await client.request("message_changes", timeout=self.timeout, group_id=gid)
        except asyncio.CancelledError:
            raise
        except RequestError as exc:  # (a refusal: the catch-up reads new messages only)
            self.unknown = self.unknown or exc.code == "unknown_op"
            return
        except Exception:  # (a drop: asked again when the next message is shown)
            return
        cursor = r.get("cursor")
        if isinstance(cursor, int) and not isinstance(cursor, bool):
            # (never back: a catch-up's cursor may have moved it on meanwhile)
            self.by_group[gid] = max(cursor, self.by_group.get(gid, cursor))

    async def changed(self, client: Client, gid: str, upto: int) -> list[dict[str, Any]]:
        """The messages up to seq ``upto`` that changed since ``gid``'s cursor, each once as it reads
        now, in the order they changed; the cursor moves on. Nothing without a cursor, or from a server
        that does not answer (its cursor is dropped); a refusal of ``GONE`` is raised."""
        since = self.by_group.get(gid)
        if since is None:
            return []
        found: dict[int, dict[str, Any]] = {}
        try:
            while True:
                r = await client.request("message_changes", timeout=self.timeout, group_id=gid, since=since,
                                         limit=PAGE)
                if r.get("reset"):  # (a cursor from before the server's database was restored: none to say)
                    found.clear()
                    since = r.get("cursor") if isinstance(r.get("cursor"), int) else since
                    break
                for m in r.get("messages") or []:
                    seq = m.get("seq") if isinstance(m, dict) else None
                    if isinstance(seq, int) and seq <= upto:
                        found.pop(seq, None)  # (listed again on a later page: its last change counts)
                        found[seq] = m
                cursor = r.get("cursor")
                moved = isinstance(cursor, int) and not isinstance(cursor, bool) and cursor > since
                if moved:
                    since = cursor
                if not (moved and r.get("more")):
                    break
        except RequestError as exc:
            if exc.code in GONE:
                raise
            self.by_group.pop(gid, None)
            return []
        self.by_group[gid] = max(since, self.by_group.get(gid, since))
        return list(found.values())

    def forget(self, gid: str | None = None) -> None:
        """One group's cursor (the user is no longer in it), or every one (another login)."""
        if gid is not None:
            self.by_group.pop(gid, None)
            self._again.discard(gid)
            return
        self.by_group.clear()
        self._again.clear()
        for task in list(self._asking.values()):
            task.cancel()
        self._asking.clear()
