"""/retry: a message whose ``send`` got no answer (timeout, connection lost before the ack, server
unreachable) is sent again with the same ``client_msg_id``, so that it is posted once whatever
happened to the first try. First against a scripted server (what is sent again, and when not), then
end to end: a relay between the client and a real server drops the ack and the connection, the
message is stored all the same, and /retry gets its seq without storing it again."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from client_demo.client import RequestError
from tests.client_demo.serving import start_or_fail
from tests.client_demo.test_tui_e2e import TUI
from tests.client_demo.test_tui_logic import GID, Scripted
from tests.client_demo.test_tui_v2_e2e import MSG, OWNER_MSG, make_user
from tests.e2e.harness import ServerProcess

# -- against a scripted server ----------------------------------------------------------------


def answers(*outcomes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A ``send`` reply that is each of ``outcomes`` in turn: an exception is raised, a map returned."""
    left = list(outcomes)

    def reply(params: dict[str, Any]) -> dict[str, Any]:
        outcome = left.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return dict(outcome)

    return reply


def test_a_send_without_an_answer_is_sent_again_with_the_same_client_msg_id() -> None:
    t = Scripted({"send": answers(TimeoutError(), ConnectionError("connection closed"),
                                  {"ok": True, "seq": 57, "ts": 0}, {"ok": True, "seq": 58, "ts": 0})})
    out = t.run_lines("hello once", "/reply 3 and again", "/retry", "/retry")
    hint = f"your message to {GID} may not be posted: /retry sends it again, and it is never posted twice"
    assert out == [
        f"! timeout: no reply within 10 s - {hint}",
        f"! disconnected: connection closed - {hint}",
        f"* sent again: your message to {GID} is #57 (posted once): hello once",
        f"* sent again: your message to {GID} is #58 (posted once): and again",
        "* nothing to send again: every message you sent got an answer",
    ]
    first, second, again1, again2 = t.ops("send")
    assert first["client_msg_id"] != second["client_msg_id"]
    assert (again1, again2) == (first, second)  # the same arguments, client_msg_id included
    assert second["reply_to"] == 3


def test_retry_keeps_what_still_gets_no_answer_and_drops_what_is_refused() -> None:
    limited = RequestError("rate_limited", "slow mode", {"ok": False, "retry_after_ms": 2500})
    refused = RequestError("not_member", "you are not a member", {"ok": False})
    t = Scripted({"send": answers(TimeoutError(), TimeoutError(), TimeoutError(),    # three unanswered
                                  TimeoutError(),                                    # /retry: still none
                                  limited,                                           # /retry: wait
                                  refused, {"ok": True, "seq": 9, "ts": 0, "held": True},  # /retry: all
                                  {"ok": True, "seq": 10, "ts": 0})})
    out = t.run_lines("one", "two", "three", "/retry", "/retry", "/retry", "/retry")
    assert out[3] == "! timeout: no reply within 10 s - 3 message(s) still wait for /retry"
    assert out[4:6] == ["! rate_limited: slow mode (try again in 2.5 s)",
                        f"* kept: your message to {GID} waits for /retry: one"]
    assert out[6:8] == ["! not_member: you are not a member", f"* not posted: your message to {GID}: one"]
    assert out[8].startswith(f"* your message #9 to {GID} is held for the platform's review")
    assert out[9:] == [f"* sent again: your message to {GID} is #10 (posted once): three",
                       "* nothing to send again: every message you sent got an answer"]
    ids = [p["client_msg_id"] for p in t.ops("send")]
    assert ids[3:] == [ids[0], ids[0], ids[0], ids[1], ids[2]] and len(set(ids[:3])) == 3


def test_retry_sends_nothing_for_someone_else_or_after_a_day() -> None:
    t = Scripted({"send": answers(TimeoutError(), TimeoutError())})
    t.run_lines("mine", "old")
    t.unanswered[1].at -= 24 * 3600
    t.user_id = "u9"  # logged in as someone else since: the server de-duplicates per user
    assert t.run_lines("/retry")[2:] == [
        f"* not sent again: your message to {GID} was sent as u1, not as who is logged in now: mine",
        f"* not sent again: your message to {GID} was sent as u1, not as who is logged in now: old"]
    t = Scripted({"send": answers(TimeoutError())})
    t.run_lines("old")
    t.unanswered[0].at -= 24 * 3600
    line = t.run_lines("/retry")[1]
    assert line.startswith(f"* not sent again: your message to {GID} of ") and line.endswith(
        " is too old to send again safely; see /history, and type it again if it is not there: old")
    assert len(t.ops("send")) == 1 and not t.unanswered


def test_an_upload_message_without_an_answer_is_kept_too(tmp_path: Path) -> None:
    png = tmp_path / "cat.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    t = Scripted({"upload_begin": {"ok": True, "upload_id": "up1", "chunk_bytes": 1024},
                  "upload_chunk": {"ok": True},
                  "upload_end": {"ok": True, "media_id": "m1", "name": "cat.png", "mime": "image/png", "size": 40},
                  "send": answers(ConnectionError("connection closed"), {"ok": True, "seq": 4, "ts": 0})})
    out = t.run_lines(f"/upload {png} our cat", "/retry")
    assert out[-2].startswith("! disconnected: connection closed - your message to ")
    assert out[-1] == f"* sent again: your message to {GID} is #4 (posted once): our cat"
    first, again = t.ops("send")
    assert first == again and first["attachments"] == ["m1"]


def test_an_upload_message_that_must_wait_is_kept_with_its_file(tmp_path: Path) -> None:
    """Slow mode refused the message of an /upload: the file was uploaded for nothing, and sending it
    meant uploading it again. Now the message waits for /retry with the file; a no (not a wait) keeps
    nothing."""
    png = tmp_path / "cat.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    slow = RequestError("rate_limited", "slow mode", {"ok": False, "retry_after_ms": 2500})
    banned = RequestError("forbidden", "you are muted", {"ok": False})
    t = Scripted({"upload_begin": {"ok": True, "upload_id": "up1", "chunk_bytes": 1024},
                  "upload_chunk": {"ok": True},
                  "upload_end": {"ok": True, "media_id": "m1", "name": "cat.png", "mime": "image/png", "size": 40},
                  "send": answers(slow, {"ok": True, "seq": 4, "ts": 0}, banned)})
    out = t.run_lines(f"/upload {png} our cat", "/retry")
    assert out[-2] == ("! rate_limited: slow mode (try again in 2.5 s) - the file is uploaded, and your message "
                       "with it waits: /retry sends it once the wait is over")
    assert out[-1] == f"* sent again: your message to {GID} is #4 (posted once): our cat"
    first, again = t.ops("send")
    assert first == again and first["attachments"] == ["m1"] and len(t.ops("upload_begin")) == 1
    assert t.run_lines(f"/upload {png} again")[-1] == "! forbidden: you are muted"
    assert not t.unanswered


def test_an_internal_answer_says_nothing_of_the_message_and_keeps_it() -> None:
    """``internal`` (a node that went away before answering, a commit whose fate the server could not
    learn) is no refusal: sent again with its id, the message is posted once, so it is kept. So are
    the answers that come before the server looked at it (not logged in any more)."""
    lost = RequestError("internal", "the node that served this request went away before answering: retry",
                        {"ok": False})
    logged_out = RequestError("unauthenticated", "log in first", {"ok": False})
    t = Scripted({"send": answers(lost, lost, logged_out, {"ok": True, "seq": 7, "ts": 0})})
    out = t.run_lines("one", "/retry", "/retry", "/retry")
    assert out[0].startswith("! internal: the node that served this request went away before answering: retry - ")
    assert out[0].endswith("may or may not be posted: /retry sends it again, and it is never posted twice")
    assert out[1:5] == [
        "! internal: the node that served this request went away before answering: retry",
        f"* kept: your message to {GID} waits for /retry: one",
        "! unauthenticated: log in first", f"* kept: your message to {GID} waits for /retry: one"]
    assert out[5] == f"* sent again: your message to {GID} is #7 (posted once): one"
    assert len({p["client_msg_id"] for p in t.ops("send")}) == 1


def test_a_connection_closed_by_websockets_is_a_lost_answer_too() -> None:
    from websockets.exceptions import ConnectionClosedError

    t = Scripted({"send": answers(ConnectionClosedError(None, None), {"ok": True, "seq": 3, "ts": 0})})
    out = t.run_lines("hello", "/retry")
    assert out[0].startswith("! disconnected: ") and "/retry sends it again" in out[0]
    assert out[1] == f"* sent again: your message to {GID} is #3 (posted once): hello"


def test_a_wait_in_one_group_holds_back_only_that_groups_messages() -> None:
    """Slow mode (or the @all quota) in one group keeps its message, and those after it in that group
    in order; a message to another group goes on."""
    limited = RequestError("rate_limited", "slow mode", {"ok": False, "retry_after_ms": 30_000})
    t = Scripted({"send": answers(TimeoutError(), TimeoutError(), TimeoutError(),
                                  limited, {"ok": True, "seq": 5, "ts": 0})})
    t.run_lines("a1", "a2", "b1")
    t.unanswered[2].params["group_id"] = "222222222"  # (sent to another group)
    out = t.run_lines("/retry")
    assert out[-3:] == ["! rate_limited: slow mode (try again in 30.0 s)",
                        f"* kept: your message to {GID} waits for /retry: a1",
                        "* sent again: your message to 222222222 is #5 (posted once): b1"]
    assert [u.params["text"] for u in t.unanswered] == ["a1", "a2"]
    assert [p["text"] for p in t.ops("send")][3:] == ["a1", "b1"]  # a2 not sent ahead of a1


def test_a_message_whose_names_cannot_be_looked_up_is_said_not_sent() -> None:
    """An @name is looked up among the members before the send: with no answer there, nothing was
    sent, and the user is told so in as many words (not a bare timeout)."""
    def no_members(params: dict[str, Any]) -> dict[str, Any]:
        raise TimeoutError()

    t = Scripted({"members": no_members, "send": answers({"ok": True, "seq": 1, "ts": 0})})
    out = t.run_lines("hi @Bob")
    said = (f"! timeout: no reply within 10 s - your message to {GID} was not sent (its @names could "
            "not be looked up): type it again")
    assert out == [said]
    assert t.ops("send") == [] and t.unanswered == []


def test_at_most_a_hundred_messages_wait_and_the_user_is_told_which_goes() -> None:
    t = Scripted({"send": answers(*[TimeoutError()] * 101)})
    out = t.run_lines(*[f"m{i}" for i in range(101)])
    assert len(t.unanswered) == 100 and t.unanswered[0].params["text"] == "m1"
    assert f"* no longer kept for /retry (more than 100 wait): your message to {GID}: m0" in out


# -- end to end --------------------------------------------------------------------------------

TIMEOUT = 8.0


class CuttingRelay:
    """A TCP relay to the server on its own thread. :meth:`cut` arms it: the next bytes the server
    sends on a connection open through it (the answer to the request just sent) are dropped and the
    connection is closed both ways, as a lost mobile connection would. Later connections pass.
    :meth:`go_down` closes every connection through it and refuses new ones until :meth:`come_back`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self.down = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5), "relay did not start"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def cut(self) -> None:
        self.armed.set()

    def go_down(self) -> None:
        self.down.set()
        for w in list(self._writers):
            self._loop.call_soon_threadsafe(w.close)

    def come_back(self) -> None:
        self.down.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._serve())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        for w in self._writers:
            w.close()
        self._loop.close()

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await server.serve_forever()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.down.is_set():
            client_w.close()
            return
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {client_w, server_w}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_server: bool) -> None:
            try:
                while data := await src.read(65536):
                    if from_server and self.armed.is_set():
                        self.armed.clear()
                        self.dropped.set()
                        return  # the answer is lost, and the connection with it
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for w in (client_w, server_w):
                    w.close()

        await asyncio.gather(pipe(client_r, server_w, False), pipe(server_r, client_w, True))

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("tui_retry"))
    start_or_fail(srv)
    yield srv
    srv.cleanup()


@pytest.fixture
def relay(server: ServerProcess) -> Iterator[CuttingRelay]:
    r = CuttingRelay(server.port)
    yield r
    r.stop()


def _in_a_group(a: TUI, b: TUI, alice: tuple[str, str], bob: tuple[str, str]) -> str:
    """Both clients logged in with their (user id, token), in a group ``a`` created and ``b`` joined."""
    for t, (uid, token) in ((a, alice), (b, bob)):
        t.expect(r"^\* not connected yet")
        t.command(f"/auth {token}", rf"^\* authenticated as {uid}$")
    gid = a.command("/create tea room friends open", r"^\* created group (\d{9,12}) ").group(1)
    b.command(f"/join {gid}", rf"^\* joined {gid}; it is the current group$")
    return str(gid)


def test_retry_after_the_connection_is_lost_before_the_ack_posts_the_message_once(
        server: ServerProcess, relay: CuttingRelay, tmp_path: Path) -> None:
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    a = TUI(relay.url, tmp_path / "alice.token")  # through the relay
    b = TUI(server.url, tmp_path / "bob.token")
    try:
        gid = _in_a_group(a, b, alice, bob)
        a.expect(rf"^\* Bob \(u[0-9a-f]{{16}}\) joined {gid}$")  # nothing more is on its way to alice

        relay.cut()
        a.send("posted only once")
        a.expect(rf"^! disconnected: .* - your message to {gid} may not be posted: "
                 r"/retry sends it again, and it is never posted twice$", timeout=TIMEOUT)
        assert relay.dropped.is_set()
        # the server stored it: bob got it, although alice never got the answer
        seq = b.expect(OWNER_MSG.format(gid=gid) + "Alice: posted only once$", timeout=TIMEOUT).group(1)
        a.expect(rf"^\* authenticated again as {alice[0]};", timeout=TIMEOUT)  # reconnected by itself
        a.expect(r"^\* 1 message you sent got no answer: /retry sends it again, and none is posted twice$")

        a.command("/retry", rf"^\* sent again: your message to {gid} is #{seq} \(posted once\): posted only once$")
        a.command("/retry", r"^\* nothing to send again: every message you sent got an answer$")
        a.send("and this after it")
        line = b.expect(rf"^\d\d:\d\d \[{gid} #", timeout=TIMEOUT).string  # bob's next message line
        assert re.search(r"Alice: and this after it$", line), line  # no second copy came before it
        b.command("/history", rf"^\* history of {gid}: 2 messages$")
        shown = [b.expect(MSG.format(gid=gid).replace(r"\] ", r"(?: owner)?\] ")).string for _ in range(2)]
        assert [s.split("Alice: ", 1)[1] for s in shown] == ["posted only once", "and this after it"]
        assert int(re.findall(r"#(\d+)", shown[1])[0]) == int(seq) + 1  # nothing took a seq between them
    finally:
        for t in (a, b):
            t.kill()


def test_after_logging_in_again_by_itself_it_shows_what_came_meanwhile_once(
        server: ServerProcess, relay: CuttingRelay, tmp_path: Path) -> None:
    """A reviewer's case: after a drop the client logged in again and only said "/history shows what
    you missed", which covers one group; the messages sent meanwhile were never shown, and new rules
    published meanwhile were not said (the next message was refused). Now each group whose messages
    it had shown is read after its last seq shown, a message printed live meanwhile is not printed
    twice, and pending rules are said as after /login."""
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    a = TUI(relay.url, tmp_path / "alice.token")  # through the relay
    b = TUI(server.url, tmp_path / "bob.token")
    try:
        gid = _in_a_group(a, b, alice, bob)
        b.send("before the drop")
        a.expect(MSG.format(gid=gid) + "Bob: before the drop$")
        relay.go_down()
        a.expect(r"^\* disconnected: the connection closed.*; reconnecting$")
        for text in ("missed one", "missed two"):
            b.command(text, rf"^\d\d:\d\d \[{gid} #\d+\] Bob: {text}$")
        rules = tmp_path / "rules.txt"
        rules.write_text("rules", encoding="utf-8")
        rc, _, err = asyncio.run(server.admin("set-agreement", "--version", "v7", "--rules-file", str(rules),
                                              "--agreement-file", str(rules)))
        assert rc == 0, err
        relay.come_back()
        a.expect(rf"^\* authenticated again as {alice[0]}; reading what you missed$", timeout=TIMEOUT)
        a.expect(rf"^\* while you were away, in {gid}: 2 messages$")
        a.expect(MSG.format(gid=gid) + "Bob: missed one$")
        a.expect(MSG.format(gid=gid) + "Bob: missed two$")
        a.expect(r"^\* the platform's rules and service agreement \(version v7\) wait for your acceptance")
        b.command("/accept v7", r"^\* you accepted")
        b.send("after the return")
        a.expect(MSG.format(gid=gid) + "Bob: after the return$")
        a.command("/read", rf"^\* read {gid} up to #\d+$")
        assert sum("missed one" in line for line in a.output) == 1
        assert sum("before the drop" in line for line in a.output) == 1
    finally:
        for t in (a, b):
            t.kill()


def test_what_changed_meanwhile_in_messages_shown_is_printed_after_the_return(tmp_path: Path) -> None:
    """[ext] message_changes: an edit or a recall made while the connection was down to a message the
    client had printed used to go unsaid (only new messages were read). Now each such message is
    printed once more, as it reads now, before what came meanwhile. (A server of its own: another test
    here publishes rules that new accounts must accept first.)"""
    (tmp_path / "srv").mkdir()
    server = start_or_fail(ServerProcess(tmp_path / "srv"))
    relay = CuttingRelay(server.port)
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    a = TUI(relay.url, tmp_path / "alice.token")  # through the relay
    b = TUI(server.url, tmp_path / "bob.token")
    try:
        gid = _in_a_group(a, b, alice, bob)
        first = int(b.command("first words", rf"^\d\d:\d\d \[{gid} #(\d+)\] Bob: first words$").group(1))
        second = int(b.command("second words", rf"^\d\d:\d\d \[{gid} #(\d+)\] Bob: second words$").group(1))
        third = int(b.command("third words", rf"^\d\d:\d\d \[{gid} #(\d+)\] Bob: third words$").group(1))
        a.expect(MSG.format(gid=gid) + "Bob: third words$")
        time.sleep(1.5)  # (the cursor, asked once the group's first message was shown, has its answer)
        # An edit shown live moves the cursor on: after the drop it is not said again (a review found
        # every change since the first message printed again at each reconnect).
        b.command(f"/edit {third} third, edited live", r"^\d\d:\d\d .*edited: third, edited live$")
        a.expect(r"^\d\d:\d\d .*edited: third, edited live$")
        time.sleep(1.5)  # (the cursor asked again after the live change has its answer)
        relay.go_down()
        a.expect(r"^\* disconnected: the connection closed.*; reconnecting$")
        b.command(f"/edit {first} first words, corrected", r"^\d\d:\d\d .*edited: first words, corrected$")
        b.command(f"/delete {second}", rf"\[{gid} #{second}\] \(")
        b.command("after the drop", rf"^\d\d:\d\d \[{gid} #\d+\] Bob: after the drop$")
        relay.come_back()
        a.expect(rf"^\* while you were away, in {gid}: 2 earlier messages changed$", timeout=TIMEOUT)
        a.expect(rf"^\d\d:\d\d \[{gid} #{first}\] Bob: first words, corrected \(edited\)$")
        a.expect(rf"^\d\d:\d\d \[{gid} #{second}\] \(recalled by Bob\)$")
        a.expect(rf"^\* while you were away, in {gid}: 1 message$")
        a.expect(MSG.format(gid=gid) + "Bob: after the drop$")
        assert sum("third, edited live" in line for line in a.output) == 1, a.output
    finally:
        for t in (a, b):
            t.kill()
        relay.stop()
        server.cleanup()


def test_at_the_connection_cap_logging_in_again_is_said_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Logging in again by itself met the account's connection cap at every try, and each try printed
    three lines (connected, the refusal, "logging in again shortly") plus a "disconnected": a screen
    of noise for as long as another device held the slot. Now the cap is said once, with what to do,
    and the client goes on trying quietly until a connection is free."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_CONNECTIONS_PER_USER", "2")
    (tmp_path / "srv").mkdir()
    srv = start_or_fail(ServerProcess(tmp_path / "srv"))
    relay = CuttingRelay(srv.port)
    a = TUI(relay.url, tmp_path / "alice.token")
    held: list[Any] = []
    try:
        uid, token = make_user(srv, "Alice")
        a.expect(r"^\* not connected yet")
        a.command(f"/auth {token}", rf"^\* authenticated as {uid}$")
        relay.go_down()
        a.expect(r"^\* disconnected: the connection closed.*; reconnecting$")

        async def hold_two() -> None:
            for _ in range(2):
                c = await srv.client()
                await c.auth(token)
                held.append(c)

        loop = asyncio.new_event_loop()
        loop.run_until_complete(hold_two())  # the account's two slots, taken elsewhere
        relay.come_back()
        a.expect(r"^! rate_limited: ", timeout=TIMEOUT)
        a.expect(r"^\* this account has as many connections as the server allows: close this chat on another "
                 r"device or in another window; logging in again by itself until one is free$")
        said = len(a.output)
        time.sleep(4.5)  # tries 1, 2 and 4 s after the first: refused each time, and quiet
        while True:
            try:
                line = a.lines.get_nowait()
            except queue.Empty:
                break
            assert line is not None, a.output
            a.output.append(line)
        assert a.output[said:] == [], a.output[said:]
        loop.run_until_complete(held.pop().close())  # a slot is free
        a.expect(rf"^\* authenticated again as {uid}; reading what you missed$", timeout=TIMEOUT * 3)
        assert sum(line.startswith("! rate_limited") for line in a.output) == 1, a.output
    finally:
        for c in held:
            loop.run_until_complete(c.close())
        a.kill()
        relay.stop()
        srv.stop()
        srv.cleanup()
