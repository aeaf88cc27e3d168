"""The terminal client end to end: a real server process, the TUI driven through a pipe."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from client_demo.tui import Names, clean, format_event, format_message, hhmm
from tests.client_demo.serving import start_or_fail
from tests.e2e.harness import ServerProcess, new_phone

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 5.0


# -- output formatting (no server) ------------------------------------------------------

GID = "123456789"
NOW_MS = int(time.time() * 1000)
NOW = hhmm(NOW_MS)


def test_hhmm_is_local_time():
    assert re.fullmatch(r"\d\d:\d\d", NOW)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", hhmm(NOW_MS - 3 * 86400_000))
    assert hhmm(None) == "--:--"


@pytest.mark.parametrize("ev, line", [
    ({"ev": "message", "group_id": GID, "seq": 42, "ts": NOW_MS, "text": "hello",
      "sender": {"user_id": "u1", "display_name": "Alice", "role": "owner"}},
     f"{NOW} [{GID} #42 owner] Alice: hello"),
    ({"ev": "message", "group_id": GID, "seq": 43, "ts": NOW_MS, "text": "hi",
      "sender": {"user_id": "u2", "display_name": "Bob", "role": "member"}},
     f"{NOW} [{GID} #43] Bob: hi"),
    ({"ev": "message", "group_id": GID, "seq": 44, "ts": NOW_MS, "deleted": True,
      "sender": {"user_id": "u2", "display_name": "Bob", "role": "member"}},
     f"{NOW} [{GID} #44] (deleted)"),
    ({"ev": "message_deleted", "group_id": GID, "seq": 42}, f"[{GID} #42] (deleted)"),
    ({"ev": "message_deleted", "group_id": GID, "seq": 42, "deleted_by": "sender"},
     f"[{GID} #42] (recalled by its sender)"),
    ({"ev": "message_deleted", "group_id": GID, "seq": 42, "deleted_by": "platform"},
     f"[{GID} #42] (removed by the platform)"),
    ({"ev": "member_joined", "group_id": GID, "user": {"user_id": "u2", "display_name": "Bob",
                                                         "role": "member"}}, f"* Bob (u2) joined {GID}"),
    ({"ev": "member_left", "group_id": GID, "user_id": "u2"}, f"* Bob (u2) left {GID}"),
    ({"ev": "member_removed", "group_id": GID, "user_id": "u2", "by": "u1"},
     f"* Bob (u2) was removed from {GID} by Alice (u1)"),
    ({"ev": "role_changed", "group_id": GID, "user_id": "u2", "role": "admin"},
     f"* Bob (u2) is now admin in {GID}"),
    ({"ev": "member_muted", "group_id": GID, "user_id": "u3", "until": NOW_MS + 86_400_000},
     f"* u3 was muted in {GID} until {hhmm(NOW_MS + 86_400_000)}"),
    ({"ev": "member_muted", "group_id": GID, "user_id": "u3", "until": 0}, f"* u3 was unmuted in {GID}"),
    ({"ev": "group_updated", "group_id": GID, "name": "tea"}, f"* {GID} updated: name=tea"),
    ({"ev": "group_updated", "group_id": GID, "announcement": "5pm"}, f"* {GID} announcement: 5pm"),
    ({"ev": "notice", "group_id": GID, "kind": "warning", "text": "behave"},
     f"* notice [warning] {GID}: behave"),
    ({"ev": "group_dissolved", "group_id": GID}, f"* group {GID} was dissolved"),
    ({"ev": "group_closed", "group_id": GID, "reason": "fraud"},
     f"* group {GID} was closed by the platform: fraud"),
    ({"re": None, "ok": False, "code": "bad_request", "reason": "undecodable"}, "! bad_request: undecodable"),
])
def test_format_event(ev, line):
    names = Names()
    names.learn({"user_id": "u1", "display_name": "Alice"})
    names.learn({"user_id": "u2", "display_name": "Bob"})
    assert format_event(ev, names) == line


def test_a_group_one_dissolved_on_another_device_says_so():
    names = Names()
    names.me = "u1"
    assert format_event({"ev": "group_dissolved", "group_id": GID, "by": "u1"}, names) == \
        f"* group {GID} was dissolved by you"
    assert format_event({"ev": "group_dissolved", "group_id": GID, "by": "u2"}, names) == f"* group {GID} was dissolved"


def test_server_text_cannot_drive_the_terminal():
    assert clean("\x1b[2Jboo\x07") == "\\x1b[2Jboo\\x07"
    m = {"group_id": GID, "seq": 1, "ts": NOW_MS, "text": "a\nb",
         "sender": {"user_id": "u1", "display_name": "\x1b]0;pwned\x07", "role": "member"}}
    assert format_message(m) == f"{NOW} [{GID} #1] \\x1b]0;pwned\\x07: a\n    b"


# -- end to end --------------------------------------------------------------------------

class TUI:
    """``python -m client_demo --url URL`` with stdin and stdout on pipes."""

    def __init__(self, url: str, token_file: Path, *extra_args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "QUNGUAN_TOKEN_FILE": str(token_file),
               "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "client_demo", "--url", url, *extra_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, encoding="utf-8", env=env, cwd=ROOT,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        """The first line from here on matching ``pattern`` (lines before it are skipped)."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; output:\n"
                                     + "\n".join(self.output)) from None
            if line is None:
                raise AssertionError(f"client exited before {pattern!r}; output:\n" + "\n".join(self.output))
            self.output.append(line)
            m = rx.search(line)
            if m:
                return m

    def command(self, line: str, pattern: str) -> re.Match[str]:
        self.send(line)
        return self.expect(pattern)

    def finish(self, how: str = "quit") -> int:
        """End the session with /quit or by closing stdin (EOF); the exit code."""
        assert self.proc.stdin is not None
        if how == "quit":
            self.send("/quit")
        self.proc.stdin.close()
        self.expect(r"^\* bye$")
        return self.proc.wait(TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("tui_server"))
    start_or_fail(srv, 20.0)
    yield srv
    srv.stop()


@pytest.fixture
def tui(server, tmp_path):
    started: list[TUI] = []

    def make(token_file: Path | None = None) -> TUI:
        t = TUI(server.url, token_file or tmp_path / f"token{len(started)}")
        started.append(t)
        t.expect(r"^\* not connected yet")  # lazy: the first command that needs the server connects
        return t

    yield make
    for t in started:
        t.kill()


def register(t: TUI, server: ServerProcess, username: str, display: str) -> tuple[str, str]:
    phone = new_phone()
    t.command(f"/code {phone}", rf"^\* code sent to {phone}$")
    code = server.last_code(phone)
    uid = t.command(f"/register {username} password123 {phone} {code} {display}",
                    rf"^\* registered {username} \(user_id (\S+)\)").group(1)
    path = t.command(f"/login {username} password123", r"^\* token saved to (.+); expires ").group(1)
    return uid, Path(path).read_text(encoding="utf-8").strip()  # (the token is not printed)


def test_register_create_chat_history_and_errors(server, tui, tmp_path):
    alice = tui(tmp_path / "alice.token")
    uid, token = register(alice, server, "tui_alice", "Alice")
    assert (tmp_path / "alice.token").read_text().strip() == token
    alice.command("/me", rf"^\* user_id={uid}, username=tui_alice, display_name=Alice, ")

    gid = alice.command("/create tea room friends open",
                        r"^\* created group (\d{9,12}) \(tea room\)").group(1)
    alice.command(f"/use {gid}", rf"^\* current group: {gid} \(tea room\)$")
    alice.send("hello from the tui")
    seq = alice.expect(rf"^\d\d:\d\d \[{gid} #(\d+) owner\] Alice: hello from the tui$").group(1)

    alice.command("/history", rf"^\* history of {gid}: 1 message$")
    alice.expect(rf"^\d\d:\d\d \[{gid} #{seq} owner\] Alice: hello from the tui$")
    alice.command(f"/history 10 before {seq}", rf"^\* history of {gid}: 0 messages$")
    alice.command("/groups", rf"^ \*{gid}  \[owner\]  tea room$")
    alice.command("/info", r"^  category friends, join policy open, 1/\d+ members$")

    # errors are printed with their code, and the session goes on
    alice.command("/join 000", r"^! (bad_request|not_found): \S")
    alice.command("/frobnicate", r"^! unknown_command: /frobnicate")
    alice.command("/kick", r"^! usage: /kick USER")
    alice.command("/mute @Nobody Here 10m", rf"^! not_found: nobody in {gid} members is called @Nobody Here")
    alice.command("/dissolve 123456789", r"^! bad_command: /dissolve 123456789 does not match")
    alice.command("/login tui_alice wrong-password", r"^! unauthenticated: ")
    alice.command("/help", r"^  /history \[N\] \[before SEQ\]")

    alice.send("still here")
    alice.expect(rf"\[{gid} #\d+ owner\] Alice: still here$")
    assert alice.finish("quit") == 0


def test_two_clients_events_saved_token_and_eof(server, tui, tmp_path):
    alice = tui(tmp_path / "alice.token")
    alice_uid, _ = register(alice, server, "tui_alice2", "Alice")
    gid = alice.command("/create book club study",
                        r"^\* created group (\d{9,12}) \(book club\)").group(1)

    bob = tui(tmp_path / "bob.token")
    register(bob, server, "tui_bob", "Bob Li")
    bob.command(f"/join {gid}", rf"^\* joined {gid}; it is the current group$")
    alice.expect(rf"^\* Bob Li \(u[0-9a-f]{{16}}\) joined {gid}$")

    bob.send("hi alice")
    alice.expect(rf"^\d\d:\d\d \[{gid} #\d+\] Bob Li: hi alice$")
    bob.expect(rf"\[{gid} #\d+\] Bob Li: hi alice$")
    bob.command("/members", rf"^\* members of {gid}: 2$")

    # @display name resolves through `members`; the op itself may not be implemented yet
    line = alice.command("/mute @Bob Li 10m", r"^(\* muted|! [a-z_]+: )").string
    assert "nobody in" not in line and "matches" not in line

    # a fresh process authenticates with the token /login saved
    again = tui(tmp_path / "alice.token")
    again.command("/auth", rf"^\* authenticated as {alice_uid}$")
    again.command("/groups", rf"^  {gid}  \[owner\]  book club  1 unread$")  # Bob's "hi alice"
    assert again.finish("eof") == 0

    assert bob.finish("eof") == 0
    assert alice.finish("quit") == 0
