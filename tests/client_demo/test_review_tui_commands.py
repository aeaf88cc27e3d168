"""Review findings: a command with a bad argument must not hang the client (a real server process,
the client driven through a pipe)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.client_demo.serving import start_or_fail
from tests.client_demo.test_tui_e2e import TUI
from tests.client_demo.test_tui_v2_e2e import make_user
from tests.e2e.harness import ServerProcess


def test_upload_of_a_named_pipe_does_not_hang_the_client(tmp_path: Path) -> None:
    """``/upload PATH`` opens the file with a blocking ``open()`` on the event loop. A named pipe
    (FIFO) with no writer blocks that call for ever: the client answers no other command, shows no
    message that arrives, answers no ping (the server drops it), and on a terminal not even Ctrl-C,
    /quit or Ctrl-D ends it. It should refuse what is not a regular file (``no_file``)."""
    (tmp_path / "srv").mkdir()
    srv = start_or_fail(ServerProcess(tmp_path / "srv"))
    uid, token = make_user(srv, "Alice")
    t = TUI(srv.url, tmp_path / "alice.token")
    try:
        t.expect(r"^\* not connected yet")
        t.command(f"/auth {token}", rf"^\* authenticated as {uid}$")
        t.command("/create fifo room friends open", r"^\* created group ")
        fifo = tmp_path / "photo.png"
        os.mkfifo(fifo)
        t.send(f"/upload {fifo} look")
        t.send("/me")
        t.expect(r"^(! no_file: |\* user_id=)", timeout=8)
    finally:
        t.kill()
        srv.cleanup()


def test_a_login_line_typed_after_a_space_is_not_posted_to_the_group(tmp_path: Path) -> None:
    """A line that starts with a space before ``/login USER PASSWORD`` (a slip, or a paste) is masked
    as it is typed, since holds_secret() strips the space and sees /login; but parse_command() only
    takes a line starting with "/" as a command, so the line is sent to the current group as a chat
    message: every member reads the password. (The same with the full-width "／login" a Chinese
    input method types, which is not even masked.)"""
    from client_demo.tui import holds_secret

    assert holds_secret(" /login alice password123")  # the prompt masks it as a secret...
    (tmp_path / "srv").mkdir()
    srv = start_or_fail(ServerProcess(tmp_path / "srv"))
    alice, bob = make_user(srv, "Alice"), make_user(srv, "Bob")
    a = TUI(srv.url, tmp_path / "alice.token")
    b = TUI(srv.url, tmp_path / "bob.token")
    try:
        for t, (uid, token) in ((a, alice), (b, bob)):
            t.expect(r"^\* not connected yet")
            t.command(f"/auth {token}", rf"^\* authenticated as {uid}$")
        gid = a.command("/create work room friends open", r"^\* created group (\d{9,12}) ").group(1)
        b.command(f"/join {gid}", rf"^\* joined {gid}")
        a.send(" /login alice password123")
        a.send("/me")
        a.expect(r"^\* user_id=", timeout=8)
        b.send("/history")
        b.expect(rf"^\* history of {gid}: ", timeout=8)
        b.send("/me")
        b.expect(r"^\* user_id=", timeout=8)
        leaked = [line for line in b.output if "password123" in line]
        assert not leaked, "another member reads the password:\n" + "\n".join(leaked)
    finally:
        for t in (a, b):
            t.kill()
        srv.cleanup()
