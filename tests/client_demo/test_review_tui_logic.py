"""Review findings against a scripted server (the replies are those the real server gives)."""

from __future__ import annotations

from tests.client_demo.test_tui_logic import Scripted


def test_the_log_names_the_users_the_server_names():
    """group_log answers with **[ext]** ``users``, the display names of everyone its page names (a
    member who left or was kicked included, "a display name, never identity data"). The client drops
    them and names only users it happened to see before, so on a fresh client the log of who was
    kicked and banned reads as bare ids."""
    t = Scripted({"group_log": {
        "entries": [{"id": 7, "ts": 0, "actor": "u1", "action": "kick", "target_user_id": "u9"}],
        "users": {"u1": "Alice", "u9": "Spammer Joe"}}})
    out = t.run_lines("/log")
    line = next(x for x in out if x.startswith("  #7 "))
    assert "Spammer Joe" in line and "Alice" in line, line


def test_upload_of_a_path_under_an_unknown_home_is_no_file():
    """``/upload ~nobody/cat.png``: Path.expanduser() raises RuntimeError for a user with no home;
    it reaches handle_line's catch-all and is shown as a Python exception ("client_error:
    RuntimeError: Could not determine home directory."), not as the client's ``no_file``."""
    t = Scripted({})
    out = t.run_lines("/upload ~nosuchuser_qg/cat.png hi")
    assert out[-1].startswith("! no_file: "), out[-1]
