"""The terminal's echo, turned off the moment the client starts (before its heavy imports).

The prompt masks a line that holds a password (``/login USER PASSWORD``) only once prompt_toolkit
has the terminal; until then the terminal itself echoes what is typed (or pasted) in clear, and it
stays in the scrollback above the prompt. So echo is off from the first thing ``main`` does, through
the gaps between two prompts, and back on when the client exits. Only on a terminal (stdin and
stdout both, the case prompt_toolkit reads): with output to a pipe the lines are read as typed, and
must be seen.

This module imports nothing beyond the standard library's smallest parts, so it runs early.
"""

from __future__ import annotations

import atexit
import os
import sys

_saved: list | None = None  # the terminal's settings before echo went off
typed_ahead = ""  # what was typed before echo went off (echoed by the terminal, then wiped)


def echo_off() -> None:
    """Stop the terminal echoing what is typed (a no-op if not on a terminal, or already off)."""
    global _saved
    if _saved is not None:
        return
    try:
        import termios

        fd = sys.stdin.fileno()
        if not (os.isatty(fd) and os.isatty(sys.stdout.fileno())):
            return
        attrs = termios.tcgetattr(fd)
        quiet = list(attrs)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, quiet)  # (not TCSAFLUSH: what was typed is kept)
    except Exception:  # (no termios on Windows, no stdin, a terminal that refuses: echo stays as it is)
        return
    _saved = attrs
    atexit.register(echo_restore)
    if attrs[3] & termios.ECHO:
        _take_typed_ahead(fd, quiet)


def _take_typed_ahead(fd: int, quiet: list) -> None:
    """Read what was typed before echo went off, and wipe its echo off the screen.

    A line typed (or pasted) right after the command that starts the client reaches the terminal
    before Python does, and the terminal echoes it at once: a ``/login USER PASSWORD`` would stay in
    the scrollback in clear. It is read here (whole lines and the line begun), kept in
    :data:`typed_ahead` for the prompt, and the rows its echo took are erased (the echo starts where
    the cursor stood: at the start of a line, after the command's Enter).
    """
    global typed_ahead
    import termios

    raw = list(quiet)
    raw[3] &= ~termios.ICANON  # (the line begun is readable too)
    raw[6] = list(raw[6])
    raw[6][termios.VMIN], raw[6][termios.VTIME] = 0, 0
    data = b""
    try:
        termios.tcsetattr(fd, termios.TCSANOW, raw)
        try:
            while chunk := os.read(fd, 4096):
                data += chunk
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except OSError:
        pass
    if not data:
        return
    typed_ahead = data.decode("utf-8", errors="replace")
    try:
        columns = max(1, os.get_terminal_size(sys.stdout.fileno()).columns)
    except OSError:
        columns = 80
    lines = typed_ahead.split("\n")
    rows = sum(max(1, -(-_width(line) // columns)) for line in lines[:-1])
    rows += _width(lines[-1]) // columns  # (the cursor's row, below the rows of the whole lines)
    # each row erased on its own, from the cursor's up: an erase of the screen from its top row
    # would have tmux (scroll-on-clear) keep the rows in its history
    sys.stdout.write("\r\x1b[2K" + "\x1b[1A\x1b[2K" * rows)
    sys.stdout.flush()


def _width(text: str) -> int:
    """The columns ``text`` takes as the terminal echoes it (a control character as ``^X``)."""
    import unicodedata

    n = 0
    for ch in text:
        if ch == "\t":
            n += 8 - n % 8
        elif ch < " " or ch == "\x7f":
            n += 2
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            n += 2
        elif not unicodedata.combining(ch):
            n += 1
    return n


def echo_restore() -> None:
    """Give the terminal its settings back (those it had before :func:`echo_off`)."""
    global _saved
    if _saved is None:
        return
    attrs, _saved = _saved, None
    try:
        import termios

        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, attrs)
    except Exception:
        pass
