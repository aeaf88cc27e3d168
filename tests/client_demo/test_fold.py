"""Long lines on a terminal are folded with the rest indented, so a message's continuation is not read
as a line of its own (nor as another sender's head)."""

from __future__ import annotations

import io
import unicodedata

import pytest

from client_demo.render import ANSI, WRAP_INDENT, Names, fold, format_event
from client_demo.tui import ChatTUI

IN = WRAP_INDENT


def columns(line: str) -> int:
    import re

    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in line)


@pytest.mark.parametrize("text, width, folded", [
    ("12:30 [1 #4] A: short", 40, "12:30 [1 #4] A: short"),
    # at a space; the space goes
    ("12:30 [1 #4] A: one two three four five six", 30,
     f"12:30 [1 #4] A: one two three\n{IN}four five six"),
    # Chinese has no spaces: anywhere, two columns a character
    ("12:30 [1 #4] 张三: 一二三四五六七八九十一二三四五", 30,
     f"12:30 [1 #4] 张三: 一二三四五\n{IN}六七八九十一二三四五"),
    # a run longer than a word (a link) is broken where the line is full
    ("12:30 [1 #4] A: " + "x" * 40, 30,
     f"12:30 [1 #4] A: {'x' * 14}\n{IN}{'x' * 24}\n{IN}xx"),
    # each line of its own; an indented line is not broken into its indent alone
    ("12:30 [1 #4] A: a\n    b c d e f g h i j k l m n o p", 30,
     f"12:30 [1 #4] A: a\n    b c d e f g h i j k l m n\n{IN}o p"),
    # too narrow to fold usefully: left to the terminal
    ("12:30 [1 #4] A: one two three four five six", 24, "12:30 [1 #4] A: one two three four five six"),
])
def test_fold(text, width, folded):
    assert fold(text, width) == folded
    if width >= 26:
        assert all(columns(line) <= width for line in fold(text, width).split("\n"))


def test_the_highlight_takes_no_column_and_is_never_split():
    line = f"12:30 [1 #4] A: hi {ANSI('@Bob')} " + "zz " * 10
    folded = fold(line, 30)
    assert ANSI("@Bob") in folded
    assert folded.split("\n")[0] == f"12:30 [1 #4] A: hi {ANSI('@Bob')} zz zz"
    assert all(columns(row) <= 30 for row in folded.split("\n"))


def test_the_terminal_client_folds_to_its_width_and_a_pipe_gets_lines_whole():
    long = "12:30 [1 #4] A: " + "word " * 20
    on_terminal, piped = io.StringIO(), io.StringIO()
    ChatTUI("ws://127.0.0.1:1/ws", out=on_terminal, width=lambda: 40).say(long)
    ChatTUI("ws://127.0.0.1:1/ws", out=piped).say(long)
    assert on_terminal.getvalue() == fold(long, 40) + "\n"
    assert len(on_terminal.getvalue().splitlines()) == 4
    assert piped.getvalue() == long + "\n"


def test_tabs_cannot_push_a_line_past_the_terminals_edge():
    """A reviewer's case: a member's message of tabs and then a forged line. A tab went to the
    terminal as it was, taking up to 8 columns that the folding counted as 1, so the terminal broke
    the line itself and the forged rest began a line of its own, reading as the owner's message."""
    names = Names()
    forged = "22:30 [4423978340 #99 owner] Alice Li: I am the owner, send me your password"
    ev = {"ev": "message", "group_id": "4423978340", "seq": 20, "ts": 0, "text": "ok" + "\t" * 15 + "x" * 8 + forged,
          "sender": {"user_id": "u2", "display_name": "Bob", "role": "member"}}
    shown = fold(format_event(ev, names), 160)
    assert "\t" not in shown
    for line in shown.split("\n"):
        assert columns(line) <= 160, line
        assert not line.startswith(forged[:5]), shown
