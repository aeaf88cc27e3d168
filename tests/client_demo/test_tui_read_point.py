"""The terminal client's /read point after a reconnect: the messages sent while the connection was
down are shown only by /history, but the live ones after the reconnect moved the point past them,
so a bare /read marked them read on every device of the user. Until a /history of the latest page,
a group's point moves no more (ChatTUI.missed)."""

from __future__ import annotations

import io

from client_demo.commands import parse_command
from client_demo.tui import ChatTUI


def test_live_messages_after_a_reconnect_do_not_move_the_read_point_past_what_was_missed(tmp_path) -> None:
    tui = ChatTUI("ws://127.0.0.1:1/ws", out=io.StringIO(), token_file=tmp_path / "token")
    gid = "100000001"
    tui.show_event({"ev": "message", "group_id": gid, "seq": 40, "ts": 1, "text": "shown",
                    "sender": {"user_id": "u2", "display_name": "B", "role": "member"}})
    assert tui.last_seq_of(gid) == 40
    tui.missed = set(tui.last_seq)  # (as the re-authentication after a reconnect sets it)
    tui.show_event({"ev": "message", "group_id": gid, "seq": 46, "ts": 2, "text": "live after",
                    "sender": {"user_id": "u2", "display_name": "B", "role": "member"}})
    assert tui.last_seq_of(gid) == 40  # 41-45 were never shown
    cmd = parse_command("/history")
    assert cmd is not None
    history = [{"seq": s, "ts": s, "text": f"m{s}", "sender": {"user_id": "u2", "display_name": "B",
                                                               "role": "member"}} for s in range(41, 47)]
    tui.show_reply(cmd, {"group_id": gid, "limit": 50}, {"messages": history})
    assert tui.last_seq_of(gid) == 46 and gid not in tui.missed


def _page(first: int, last: int) -> list[dict]:
    return [{"seq": s, "ts": s, "text": f"m{s}", "sender": {"user_id": "u2", "display_name": "B", "role": "member"}}
            for s in range(first, last + 1)]


def test_a_full_page_after_a_seq_is_not_the_latest(tmp_path) -> None:
    """``/history N after SEQ`` shows the earliest N after SEQ: a full page leaves newer ones
    unshown, so it does not lift the guard (a bare /read would mark them read); a short one does."""
    out = io.StringIO()
    tui = ChatTUI("ws://127.0.0.1:1/ws", out=out, token_file=tmp_path / "token")
    gid = "100000001"
    tui.show_event({"ev": "message", "group_id": gid, "seq": 41, "ts": 1, "text": "shown",
                    "sender": {"user_id": "u2", "display_name": "B", "role": "member"}})
    tui.missed = set(tui.last_seq)
    tui.show_event({"ev": "message", "group_id": gid, "seq": 200, "ts": 2, "text": "live after",
                    "sender": {"user_id": "u2", "display_name": "B", "role": "member"}})
    cmd = parse_command("/history 50 after 41")
    assert cmd is not None
    tui.show_reply(cmd, {"group_id": gid, "limit": 50, "after_seq": 41}, {"messages": _page(42, 91)})
    assert gid in tui.missed and tui.last_seq_of(gid) < 200
    assert "* newer: /history 50 after 91" in out.getvalue()
    tui.show_reply(cmd, {"group_id": gid, "limit": 50, "after_seq": 91}, {"messages": _page(92, 120)})
    assert gid not in tui.missed


class _FakeClient:
    """A connection whose ``auth`` is refused with ``code`` (the first ``refusals`` times)."""

    made: list[_FakeClient] = []
    refusals = 1
    code = "internal"

    def __init__(self) -> None:
        import asyncio

        self.events: asyncio.Queue = asyncio.Queue()
        self.close_error = None
        self._reader = asyncio.get_running_loop().create_future()
        _FakeClient.made.append(self)

    @classmethod
    async def connect(cls, url: str, encoding: str = "msgpack", **kw: object) -> _FakeClient:
        return cls()

    @property
    def closed(self) -> bool:
        return self._reader.done()

    async def close(self) -> None:
        if not self._reader.done():
            self._reader.set_result(None)

    def drain_events(self) -> list:
        return []

    async def auth(self, token: str) -> dict:
        from client_demo.client import RequestError

        if len(_FakeClient.made) <= _FakeClient.refusals:
            raise RequestError(_FakeClient.code, "try again", {})
        return {"user_id": "u1"}


async def test_a_moments_refusal_of_the_login_again_keeps_the_token(tmp_path, monkeypatch) -> None:
    """Logging in again after a drop, a refusal that is no verdict on the token (``internal`` during a
    failover, ``rate_limited``) dropped the token: the user stayed logged out for good, on a
    connection that got no events. The token is kept and the login tried again shortly."""
    import asyncio

    import client_demo.tui as tui_mod

    _FakeClient.made = []
    monkeypatch.setattr(tui_mod, "Client", _FakeClient)
    out = io.StringIO()
    tui = ChatTUI("ws://127.0.0.1:1/ws", out=out, token_file=tmp_path / "token")
    tui.token, tui.user_id = "tok", "u1"
    tui.client = _FakeClient()  # the connection that dropped
    await tui.client.close()
    _FakeClient.made = []
    await tui._reconnect()
    assert tui.token == "tok" and len(_FakeClient.made) == 2, out.getvalue()
    assert "authenticated again" in out.getvalue()
    await tui.close()
    _FakeClient.code, _FakeClient.made = "unauthenticated", []  # a verdict: logged out
    tui2 = ChatTUI("ws://127.0.0.1:1/ws", out=io.StringIO(), token_file=tmp_path / "token")
    tui2.token = "tok"
    await tui2.connect()
    assert tui2.token is None
    await asyncio.sleep(0)
    await tui2.close()


async def test_the_catch_up_forgets_a_group_left_meanwhile_and_reads_the_others(tmp_path) -> None:
    """The diff review's case: the catch-up after a reconnect stopped at the first group the user was
    no longer in (removed while away: history answers not_member), silently: the groups after it
    were never read and stayed "missed", and the rules waiting were not said."""
    from client_demo.client import RequestError

    out = io.StringIO()
    tui = ChatTUI("ws://127.0.0.1:1/ws", out=out, token_file=tmp_path / "token")
    gone, kept = "100000001", "100000002"
    for gid in (gone, kept):
        tui.show_event({"ev": "message", "group_id": gid, "seq": 3, "ts": 1, "text": "before",
                        "sender": {"user_id": "u2", "display_name": "B", "role": "member"}})
    tui.missed = set(tui.last_seq)

    class _Link:
        async def request(self, op: str, timeout: float = 0, **params: object) -> dict:
            if op == "agreement":
                return {"version": "v3", "accepted": False}
            if params["group_id"] == gone:
                raise RequestError("not_member", "you are not a member of this group", {})
            return {"messages": _page(4, 5)}

    await tui._catch_up(_Link())  # type: ignore[arg-type]
    text = out.getvalue()
    assert f"* while you were away, in {kept}: 2 messages" in text
    assert "(version v3) wait for your acceptance" in text
    assert gone not in tui.last_seq and tui.missed == set() and tui.last_seq_of(kept) == 5


def _msg(gid: str, seq: int, text: str) -> dict:
    return {"ev": "message", "group_id": gid, "seq": seq, "ts": 1, "text": text,
            "sender": {"user_id": "u2", "display_name": "B", "role": "member"}}


async def test_a_live_message_the_catch_up_page_printed_first_is_not_printed_again(tmp_path) -> None:
    """A review's case: the live ``message`` and the catch-up's ``history`` answer arrive in one read;
    the answer is handled first (the page prints #11 and the group is no longer missed), then the
    event printed #11 again. A group's messages come in seq order, so one at or below what was shown
    is a repeat."""
    out = io.StringIO()
    tui = ChatTUI("ws://127.0.0.1:1/ws", out=out, token_file=tmp_path / "token")
    gid = "100000001"
    tui.show_event(_msg(gid, 10, "before"))
    tui.missed = set(tui.last_seq)

    class _Link:
        async def request(self, op: str, timeout: float = 0, **params: object) -> dict:
            if op == "agreement":
                return {"version": "v1", "accepted": True}
            return {"messages": [{k: v for k, v in _msg(gid, 11, "new").items() if k != "ev"}]}

    await tui._catch_up(_Link())  # type: ignore[arg-type]
    tui.show_event(_msg(gid, 11, "new"))  # its event, handled after the page
    tui.show_event(_msg(gid, 12, "newer"))
    lines = out.getvalue().splitlines()
    assert sum("B: new" in line and "newer" not in line for line in lines) == 1, lines
    assert sum("B: newer" in line for line in lines) == 1
    # A held message released later has an earlier seq by nature: it is printed.
    tui.show_event({**_msg(gid, 9, "released late"), "ev": "message_released"})
    assert "released late" in out.getvalue()


def test_an_event_the_client_cannot_read_is_skipped_and_the_next_shown(tmp_path) -> None:
    """One malformed event ended the task that shows events: no event, no "disconnected", no
    reconnect after it. It is said and skipped."""
    out = io.StringIO()
    tui = ChatTUI("ws://127.0.0.1:1/ws", out=out, token_file=tmp_path / "token")
    gid = "100000001"
    for bad in ({**_msg(gid, 1, "x"), "sender": "u2", "attachments": 5}, {**_msg(gid, 2, "x"), "ts": 10**30},
                {"ev": "message_edited", "group_id": gid, "seq": "7", "mentions": 3}, ["not", "a", "map"]):
        tui.show_event_safely(bad)
    tui.show_event_safely(_msg(gid, 3, "fine after"))
    text = out.getvalue()
    assert "B: fine after" in text, text
    assert text.count("* an event this client cannot read was skipped") == 2, text
    assert f"--:-- [{gid} #2] B: x" in text  # a time no calendar shows: said as none, the message shown


def test_being_removed_is_said_to_the_one_removed(tmp_path) -> None:
    out = io.StringIO()
    tui = ChatTUI("ws://127.0.0.1:1/ws", out=out, token_file=tmp_path / "token")
    tui.user_id = "u1"
    gid = "100000001"
    tui.show_event(_msg(gid, 3, "hello"))
    tui.current = gid
    tui.show_event({"ev": "member_removed", "group_id": gid, "user_id": "u1", "by": "u2", "banned": True})
    assert f"* you were banned from {gid}; no current group now" in out.getvalue()
    assert tui.current is None and gid not in tui.last_seq


async def test_a_login_refused_for_good_forgets_the_saved_token(tmp_path, monkeypatch) -> None:
    """Logging in again by itself with a token the server no longer takes: the saved copy went on
    being tried by a bare /auth. It is removed, and the user told to log in again."""
    import client_demo.tui as tui_mod

    _FakeClient.code, _FakeClient.made, _FakeClient.refusals = "unauthenticated", [], 1
    monkeypatch.setattr(tui_mod, "Client", _FakeClient)
    out = io.StringIO()
    token_file = tmp_path / "token"
    tui = ChatTUI("ws://127.0.0.1:1/ws", out=out, token_file=token_file)
    token_file.write_text("tok", encoding="utf-8")
    tui.token, tui.user_id = "tok", "u1"
    await tui.connect()
    assert tui.token is None and not token_file.exists(), out.getvalue()
    assert "/login or /auth again" in out.getvalue()
    await tui.close()


def test_search_hits_move_no_read_point_and_hide_no_live_message(tmp_path) -> None:
    """The diff review's case: /search's hits are not a page, but moved the group's read point to the
    newest hit; a live message below it, handled after the hits, was then taken for a repeat and never
    printed (and a bare /read would have marked the unshown ones read)."""
    out = io.StringIO()
    tui = ChatTUI("ws://127.0.0.1:1/ws", out=out, token_file=tmp_path / "token")
    gid = "100000001"
    tui.show_event(_msg(gid, 10, "before"))
    cmd = parse_command("/search words")
    assert cmd is not None
    hit = {k: v for k, v in _msg(gid, 20, "words found").items() if k != "ev"}
    tui.show_reply(cmd, {"group_id": gid, "query": "words"}, {"messages": [hit]})
    assert tui.last_seq_of(gid) == 10
    tui.show_event(_msg(gid, 11, "live after the search"))
    assert "B: live after the search" in out.getvalue()
