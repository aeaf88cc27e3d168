"""The terminal client's v2 commands end to end: a real server process on each storage backend,
the TUI driven through a pipe. Every command is checked by what the other clients see, and the
server's refusals by the code the client prints."""

from __future__ import annotations

import asyncio
import queue
import re
import struct
import time
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import pgtools
from tests.client_demo.serving import start_or_fail
from tests.client_demo.test_tui_e2e import TUI
from tests.e2e.harness import ServerProcess, new_phone

TIMEOUT = 8.0
MSG = r"^\d\d:\d\d \[{gid} #(\d+)\] "  # the head of a message line (a plain member's)
OWNER_MSG = r"^\d\d:\d\d \[{gid} #(\d+) owner\] "  # the head of the owner's: the role inside it


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory) -> Iterator[ServerProcess]:
    """One server per backend for the whole module (every test makes its own users and groups)."""
    if request.param == "postgresql":
        reason = pgtools.unavailable()
        if reason is not None:
            pytest.skip(reason)
    srv = ServerProcess(tmp_path_factory.mktemp(f"tui_v2_{request.param}"), backend=request.param)
    start_or_fail(srv)
    yield srv
    srv.cleanup()


@pytest.fixture
def tui(server, tmp_path) -> Iterator[Callable[..., TUI]]:
    started: list[TUI] = []

    def make(user: tuple[str, str] | None = None, *args: str) -> TUI:
        t = TUI(server.url, tmp_path / f"token{len(started)}", *args)
        started.append(t)
        t.expect(r"^\* not connected yet")
        if user is not None:
            t.command(f"/auth {user[1]}", rf"^\* authenticated as {user[0]}$")
        return t

    yield make
    for t in started:
        t.kill()


def make_user(server: ServerProcess, display: str) -> tuple[str, str]:
    """(user_id, token) of a new account, made with the client library (faster than typing it)."""
    async def go() -> tuple[str, str]:
        c = await server.client()
        try:
            phone = new_phone()
            await c.request("request_code", phone=phone)
            name = f"tui_{uuid.uuid4().hex[:10]}"
            await c.request("register", username=name, password="password123", phone=phone,
                            code=server.last_code(phone), display_name=display)
            r = await c.login(name, "password123")
            return r["user_id"], r["token"]
        finally:
            await c.close()

    return asyncio.run(go())


def expect_all(t: TUI, *patterns: str, timeout: float = TIMEOUT) -> list[re.Match[str]]:
    """Lines matching every pattern, in whatever order they arrive (a reply and an event may race)."""
    deadline = time.monotonic() + timeout
    todo = {i: re.compile(p) for i, p in enumerate(patterns)}
    found: dict[int, re.Match[str]] = {}
    while todo:
        try:
            line = t.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no lines matching {[r.pattern for r in todo.values()]} within {timeout} s;"
                                 " output:\n" + "\n".join(t.output)) from None
        if line is None:
            raise AssertionError("client exited; output:\n" + "\n".join(t.output))
        t.output.append(line)
        for i, rx in list(todo.items()):
            m = rx.search(line)
            if m:
                found[i] = m
                del todo[i]
                break
    return [found[i] for i in range(len(patterns))]


def say(t: TUI, gid: str, text: str, who: str, owner: bool = False) -> int:
    """Send ``text`` as plain chat and return its seq (``owner``: the line is the group owner's)."""
    t.send(text)
    head = OWNER_MSG if owner else MSG
    return int(t.expect(head.format(gid=gid) + re.escape(f"{who}: {text}") + "$").group(1))


def group_with(server: ServerProcess, tui: Callable[..., TUI], owner: tuple[str, str],
               *members: tuple[str, str]) -> tuple[str, TUI, list[TUI]]:
    """An open group made by ``owner`` in a TUI, joined by ``members`` in TUIs of their own."""
    a = tui(owner)
    gid = a.command("/create tea room friends open", r"^\* created group (\d{9,12}) ").group(1)
    others = []
    for m in members:
        t = tui(m)
        t.command(f"/join {gid}", rf"^\* joined {gid}; it is the current group$")
        others.append(t)
    return gid, a, others


# -- richer messages -------------------------------------------------------------------------------

def test_reply_mentions_edit_react_search_and_read(server, tui):
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob Li")
    gid, a, (b,) = group_with(server, tui, alice, bob)
    head, owner = MSG.format(gid=gid), OWNER_MSG.format(gid=gid)

    s1 = say(b, gid, "hello everyone", "Bob Li")
    a.send(f"/reply {s1} welcome @Bob Li")
    s2 = int(expect_all(b, owner + rf"Alice: ↪ #{s1} welcome \*@Bob Li\*$")[0].group(1))
    a.expect(owner + rf"Alice: ↪ #{s1} welcome \*@Bob Li\*$")

    # @所有人 is for the owner and admins
    b.command("@所有人 lunch?", r"^! forbidden: ")
    a.send("@all tea at five")
    expect_all(b, owner + r"Alice: \*@all\* tea at five$")
    a.command(f"/reply 999999 {s2}", r"^! not_found: ")

    # edits: the sender only; everyone sees the new text
    b.send(f"/edit {s1} hello all")
    expect_all(b, rf"^\* edited #{s1}$", rf"\[{gid} #{s1}\] edited: hello all$")
    a.expect(rf"\[{gid} #{s1}\] edited: hello all$")
    a.command(f"/edit {s1} not mine", r"^! forbidden: ")

    # reactions: shown as they happen, and counted in history
    a.send(f"/react {s1} 👍")
    b.expect(rf"^\* Alice \({alice[0]}\) reacted 👍 to \[{gid} #{s1}\]$")
    b.command("/history", rf"^\* history of {gid}: ")
    b.expect(head.replace("(\\d+)", str(s1)) + r"Bob Li: hello all \(edited\)$")
    b.expect(r"^  \+ reactions: 👍 1$")  # (a line of their own: no text can fake a count)
    a.send(f"/unreact {s1} 👍")
    b.expect(rf"^\* Alice \({alice[0]}\) took back 👍 on \[{gid} #{s1}\]$")
    a.command(f"/react {s1} {'😀' * 9}", r"^! bad_request: ")  # 36 bytes: more than 32

    # search: case-insensitive, Chinese included, newest first
    s4 = say(b, gid, "读书会 TONIGHT", "Bob Li")
    s5 = say(a, gid, "tonight it is", "Alice", owner=True)
    b.command("/search tonight", rf"^\* 2 messages in {gid} contain 'tonight'$")
    b.expect(owner.replace("(\\d+)", str(s5)) + r"Alice: tonight it is$")
    b.expect(head.replace("(\\d+)", str(s4)) + r"Bob Li: 读书会 TONIGHT$")
    b.command("/search 读书", rf"^\* 1 message in {gid} contains '读书'$")
    b.command("/search x", r"^! bad_request: ")

    # read markers: stored across devices, and told to one's other connections
    b2 = tui(bob)
    b2.command("/groups", rf"^  {gid}  \[member\]  tea room  \d+ unread, you are mentioned$")  # (@Bob, @all)
    b.command("/read", rf"^\* read {gid} up to #{s5}$")
    b2.expect(rf"^\* read {gid} up to #{s5} \(on another device\)$")
    b2.command("/groups", rf"^  {gid}  \[member\]  tea room$")
    b2.command("/read", r"^! no_group: ")


def test_pins_and_their_limit(server, tui):
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    gid, a, (b,) = group_with(server, tui, alice, bob)
    seqs = [say(a, gid, f"note {i}", "Alice", owner=True) for i in range(11)]

    b.command(f"/pin {seqs[0]}", r"^! forbidden: ")
    a.command(f"/pin {seqs[0]}", rf"^\* pinned #{seqs[0]} in {gid}$")
    b.expect(rf"^\* {gid} updated: pinned #{seqs[0]}$")
    for s in seqs[1:10]:
        a.command(f"/pin {s}", rf"^\* pinned #{s} in {gid}$")
    a.command(f"/pin {seqs[10]}", r"^! conflict: ")  # at most 10 by default
    b.command("/info", r"^  pinned: " + ", ".join(f"#{s}" for s in seqs[:10]) + "$")
    a.command("/pin 999999", r"^! not_found: ")
    for s in seqs[:10]:
        a.command(f"/unpin {s}", rf"^\* unpinned #{s} in {gid}$")
    b.expect(rf"^\* {gid} updated: nothing pinned$")


# -- managing ----------------------------------------------------------------------------------------

def test_ban_unban_and_bans(server, tui):
    alice, bob, carol = make_user(server, "Alice"), make_user(server, "Bob Li"), make_user(server, "Carol")
    gid, a, (b, c) = group_with(server, tui, alice, bob, carol)
    a.command("/members", rf"^\* members of {gid}: 3$")

    c.command("/ban @Bob Li 1h", r"^! forbidden: ")          # members may not
    c.command("/bans", r"^! forbidden: ")
    a.send("/ban @Bob Li 1h spamming links")
    expect_all(a, rf"^\* banned Bob Li \({bob[0]}\) from {gid} for 1h$")
    # (names are those the client has seen: Alice has not spoken, so she is her user_id)
    b.expect(rf"^\* Bob Li \({bob[0]}\) was banned from {gid} by (Alice \()?{alice[0]}\)?$")
    c.expect(rf"^\* Bob Li \({bob[0]}\) was banned from {gid} by (Alice \()?{alice[0]}\)?$")
    b.command(f"/join {gid}", r"^! forbidden: ")

    a.command("/bans", rf"^\* bans in {gid}: 1$")
    a.expect(rf"^  Bob Li \({bob[0]}\)  until \S+( \S+)?  by Alice \({alice[0]}\)  reason: spamming links$")
    a.command("/unban @Bob Li", rf"^\* unbanned Bob Li \({bob[0]}\) in {gid}$")
    a.command("/bans", rf"^\* bans in {gid}: 0$")
    b.command(f"/join {gid}", rf"^\* joined {gid}; it is the current group$")

    # a ban until lifted, of someone not in the group, keeps them out too
    dave = make_user(server, "Dave")
    a.command(f"/ban {dave[0]} 0 troll", rf"^\* banned {dave[0]} from {gid} until /unban$")
    d = tui(dave)
    d.command(f"/join {gid}", r"^! forbidden: ")
    a.command("/bans", rf"^\* bans in {gid}: 1$")
    a.expect(rf"^  {dave[0]}  until unbanned  by Alice \({alice[0]}\)  reason: troll$")
    a.command(f"/unban {dave[0]}", rf"^\* unbanned {dave[0]} in {gid}$")
    d.command(f"/join {gid}", rf"^\* joined {gid}; it is the current group$")


def test_slow_mode(server, tui):
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    gid, a, (b,) = group_with(server, tui, alice, bob)

    b.command("/slow 30s", r"^! forbidden: ")
    a.command("/slow 2h", r"^! bad_request: ")               # at most an hour
    a.command("/slow 30s", rf"^\* slow mode in {gid}: a member may send once per 30s$")
    b.expect(rf"^\* {gid} updated: slow mode: a member may send once per 30s$")
    b.command("/info", r"^  slow mode: a member may send once per 30s$")
    say(b, gid, "first", "Bob")
    b.command("second", r"^! rate_limited: .*\(try again in \d+\.\d s\)$")
    say(a, gid, "owners are exempt", "Alice", owner=True)
    say(a, gid, "twice", "Alice", owner=True)
    a.command("/slow off", rf"^\* slow mode off in {gid}$")
    b.expect(rf"^\* {gid} updated: slow mode off$")
    say(b, gid, "second", "Bob")


def test_invite_links(server, tui):
    alice, bob, carol = make_user(server, "Alice"), make_user(server, "Bob"), make_user(server, "Carol")
    a = tui(alice)
    gid = a.command("/create club study invite", r"^\* created group (\d{9,12}) ").group(1)
    code = a.command("/link 1", rf"^\* invite code for {gid}: (\S+) \(1 use, no expiry\)$").group(1)
    assert len(code) >= 16
    a.expect(rf"^\* to join, type: /join {re.escape(code)}$")

    b = tui(bob)
    b.command(f"/join {gid}", r"^! forbidden: ")              # invite-only: the code lets one in
    b.command(f"/join {code}", rf"^\* joined {gid}; it is the current group$")
    a.expect(rf"^\* Bob \(u[0-9a-f]{{16}}\) joined {gid}$")
    b.command("/link", r"^! forbidden: ")                      # members make no links
    c = tui(carol)
    c.command(f"/joinlink {code}", r"^! not_found: ")         # used up

    code2 = a.command("/link 0 1h", rf"^\* invite code for {gid}: (\S+) \(expires \S+( \S+)?\)$").group(1)
    a.command(f"/revoke {code2}", rf"^\* revoked invite code {re.escape(code2)}$")
    c.command(f"/join {code2}", r"^! not_found: ")
    c.command("/join AAAAAAAAAAAAAAAAAAAAAA", r"^! not_found: ")
    code3 = a.command("/link", rf"^\* invite code for {gid}: (\S+) \(no expiry\)$").group(1)
    c.command(f"/joinlink {code3}", rf"^\* joined {gid}; it is the current group$")
    # /links lists the links that still work, with their uses; /revoke takes a link id from it
    a.command("/links", rf"^\* invite links in {gid}: 1$")
    lid = a.expect(r"^  ([0-9a-f]{10})  1 uses  no expiry  by ").group(1)
    a.command(f"/revoke {lid}", rf"^\* revoked invite link {lid}$")
    a.command("/links", rf"^\* invite links in {gid}: 0$")
    b.command(f"/join {code3}", r"^! not_found: ")


def test_an_invite_link_is_given_a_note_that_its_creation_and_links_show(server, tui):
    """``/link ... note TEXT`` gives the link a note for the managers (``create_invite_link``'s
    ``note``); the reply and ``/links`` show it, the latter masked by the server like every note."""
    alice = make_user(server, "Alice")
    a = tui(alice)
    gid = a.command("/create notes study invite", r"^\* created group (\d{9,12}) ").group(1)
    a.command("/link 3 1d note 给新同学 13812345678",
              rf"^\* invite code for {gid}: \S+ \(3 uses, expires \S+( \S+)?, note: 给新同学 13812345678\)$")
    a.command("/link note", r"^! usage: ")  # no text after the word: nothing sent
    a.command("/links", rf"^\* invite links in {gid}: 1$")
    a.expect(r"^  [0-9a-f]{10}  0/3 uses  expires \S+( \S+)?  by Alice \(u[0-9a-f]+\)  note: 给新同学 \[redacted\]$")
    a.command("/link note " + "长" * 201, r"^! too_large: ")  # the server's limit, said as it refuses


def test_group_log(server, tui):
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    gid, a, (b,) = group_with(server, tui, alice, bob)
    b.command("/log", r"^! forbidden: ")
    a.command("/mute @Bob 10m", rf"^\* muted Bob \({bob[0]}\) for 10m$")
    a.command("/ban @Bob 1d", rf"^\* banned Bob \({bob[0]}\) from {gid} for 1d$")
    n = int(a.command("/log", rf"^\* log of {gid}: (\d+) entr(y|ies)$").group(1))
    assert n >= 2
    first, second = expect_all(a, rf"^  #(\d+) .*Alice \({alice[0]}\) \S*ban\S* Bob \({bob[0]}\)",
                               rf"^  #(\d+) .*Alice \({alice[0]}\) \S*mute\S* Bob \({bob[0]}\)")
    assert int(first.group(1)) > int(second.group(1))         # newest first
    a.command(f"/log 1 before {first.group(1)}", rf"^\* log of {gid}: 1 entry$")
    a.expect(rf"^  #{second.group(1)} ")


# -- media --------------------------------------------------------------------------------------------

def png(width: int, height: int) -> bytes:
    """A real PNG (white pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_upload_sends_a_file_as_an_attachment(server, tui, tmp_path: Path, encoding: str):
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    a = tui(alice, *(["--json"] if encoding == "json" else []))
    gid = a.command("/create album friends open", r"^\* created group (\d{9,12}) ").group(1)
    b = tui(bob)
    b.command(f"/join {gid}", rf"^\* joined {gid}; it is the current group$")

    body = png(64, 48) + bytes(200_000)  # long enough for several chunks on any sensible server
    f = tmp_path / "cat.png"
    f.write_bytes(body)
    a.send(f"/upload {f} our cat")
    # (the bytes after the picture's end are not stored: the server keeps a picture without what follows it)
    media_id = a.expect(r"^\* uploaded cat\.png \(image/png, \d+ B\) as (\S+)$").group(1)
    a.expect(OWNER_MSG.format(gid=gid) + r"Alice: our cat$")
    url = b.expect(r"^  \+ \[image 64x48 cat\.png\] (http://127\.0\.0\.1:\d+/media/\S+)$").group(1)
    assert media_id in url
    with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/png"
        assert resp.read() == png(64, 48)
    b.command("/history", rf"^\* history of {gid}: 1 message$")
    b.expect(OWNER_MSG.format(gid=gid) + r"Alice: our cat$")
    b.expect(rf"^  \+ \[image 64x48 cat\.png\] http://127\.0\.0\.1:\d+/media/{re.escape(media_id)}\S*$")

    # refusals: bytes that are not what the name says, a type the server does not take, no file
    fake = tmp_path / "fake.png"
    fake.write_text("not a picture at all")
    a.command(f"/upload {fake}", r"^! bad_request: ")
    notes = tmp_path / "notes.txt"
    notes.write_text("plain text")
    a.command(f"/upload {notes}", r"^! bad_request: ")
    a.command(f"/upload {tmp_path / 'missing.png'}", r"^! no_file: cannot read .*missing\.png")
    a.command("/upload", r"^! usage: /upload PATH")
