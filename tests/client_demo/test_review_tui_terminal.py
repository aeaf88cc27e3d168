"""Review findings on a real terminal (tmux): secrets left on the screen."""

from __future__ import annotations

import shutil

import pytest

from tests.client_demo.test_tui_terminal import Pane
from tests.client_demo.test_tui_v2_e2e import make_user
from tests.e2e.harness import ServerProcess

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")


@pytest.fixture
def server(tmp_path):
    srv = ServerProcess(tmp_path)
    srv.start()
    yield srv
    srv.stop()


def _username(server: ServerProcess, token: str) -> str:
    import asyncio

    async def go() -> str:
        c = await server.client()
        try:
            await c.auth(token)
            return str((await c.request("me"))["username"])
        finally:
            await c.close()

    return asyncio.run(go())


def test_the_login_token_is_not_left_in_the_scrollback(server, tmp_path):
    """The client masks "/auth TOKEN" as it is typed, and keeps it out of the Up arrow's history,
    because the token is a password's equal: whoever reads it is logged in as the user until it
    expires. Yet /login prints the very token in clear on the terminal ("* token: ..."), so it
    stays in the scrollback (a shared screen, a screenshot sent to support, tmux's history)."""
    uid, token = make_user(server, "Alice")
    username = _username(server, token)
    pane = Pane(server.url, tmp_path / "alice.token")
    try:
        pane.wait(r"^\* not connected yet")
        pane.keys(f"/login {username} password123")
        pane.wait(r"^\* logged in as ")
        leaked = [line for line in pane.screen() if line.startswith("* token: ") and len(line) > 30]
        assert not leaked, "the bearer token is printed in clear:\n" + "\n".join(leaked)
    finally:
        pane.close()


def test_a_password_typed_while_the_client_starts_is_not_echoed(server, tmp_path):
    """The masking of "/login USER PASSWORD" starts only once prompt_toolkit has the terminal: what is
    typed (or pasted) before, while Python starts, is echoed in clear by the terminal itself and
    stays in the scrollback above the prompt. (Typed after the banner too, about one time in ten.)"""
    uid, token = make_user(server, "Alice")
    username = _username(server, token)
    pane = Pane(server.url, tmp_path / "alice.token")
    try:
        pane.keys(f"/login {username} password123")  # typed at once, as one types after the command
        pane.wait(r"^\* logged in as ", timeout=15)
        shown = [line for line in pane.screen() if "password123" in line]
        assert not shown, "the password is on the screen:\n" + "\n".join(shown)
    finally:
        pane.close()
