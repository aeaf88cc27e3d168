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
