"""Line-based terminal chat client: ``python -m client_demo [--url URL]`` or ``qunguan-chat``.

Reads slash commands (see ``/help`` and :mod:`client_demo.commands`) and chat lines
from stdin, a terminal or a pipe, and prints replies and server events as lines on
stdout. On a terminal the line is read with prompt_toolkit under ``patch_stdout``:
incoming messages are printed above the prompt and never overwrite what is being
typed. It never exits on a server error or a bad command; it exits on ``/quit`` or
at the end of input.

Connecting is lazy: nothing is opened until the first command that needs the
server, so reading an SMS code takes as long as it takes. A connection the server
dropped (the login timeout of a connection that is not logged in, a restart) is
said plainly and re-opened, re-authenticated with the last token, when the next
command needs it (at once, when logged in, so events keep arriving).
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import hashlib
import math
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from websockets.exceptions import ConnectionClosed

from client_demo import echo
from client_demo.changes import ChangeCursors
from client_demo.client import Client, RequestError
from client_demo.commands import (
    Command,
    CommandError,
    bind,
    bind_user_rest,
    command_text,
    find_mentions,
    format_duration,
    help_text,
    needs_resolving,
    parse_command,
    pick_user,
    split_user,
)
from client_demo.echo import echo_off, echo_restore
from client_demo.public_view import (
    COMMENTS_PAGE,
    accounts_lines,
    close_question,
    format_comments,
    format_post,
    public_reply,
)
from client_demo.render import (
    ANSI,
    PLAIN,
    Highlight,
    Names,
    clean,
    fold,
    format_ban,
    format_emoji,
    format_event,
    format_held,
    format_held_text,
    format_invite_link,
    format_join_request,
    format_log_entry,
    format_message,
    format_my_appeal,
    format_my_report,
    format_my_sanction,
    format_platform_notice,
    format_user,
    hhmm,
    human_size,
)
from client_demo.text import clean_lines
from client_demo.upload import upload_file

HISTORY_MAX = 500  # the server's largest history page (docs/protocol.md, history)
CATCH_UP = 50  # messages read per group after logging in again by itself (then: /history N after SEQ)
NOTICE_CLOCK_SLACK_MS = 5 * 60_000  # platform notices read from this long before the connection dropped
# Live changes of messages already shown: each moves the group's message_changes cursor on (changes.py).
CHANGES_SHOWN = frozenset({"message_edited", "message_deleted", "reaction", "message_released"})

DEFAULT_URL = "ws://127.0.0.1:8765/ws"
REQUEST_TIMEOUT = 10.0


class Unreachable(ConnectionError):
    """The server could not be reached (refused, bad URL, handshake rejected, timeout)."""


def no_answer(exc: BaseException) -> tuple[str, str] | None:
    """(code, reason) the client shows for a request that got no answer: the server could not be
    reached, did not reply in time, or the connection was lost before it did. None for any other
    error (a refusal is an answer)."""
    if isinstance(exc, Unreachable):
        return "connect_failed", str(exc)
    if isinstance(exc, TimeoutError):  # (before OSError: TimeoutError is one)
        return "timeout", f"no reply within {REQUEST_TIMEOUT:g} s"
    if isinstance(exc, (ConnectionError, OSError, ConnectionClosed)):
        return "disconnected", str(exc) or "connection closed"
    return None


# The server answers a send with a client_msg_id it already stored (same user, same group) with the
# first message's seq for 24 hours (docs/protocol.md, client_msg_id de-duplication), so /retry
# sends a message again with its id only while that surely holds; an older one is not resent.
RESEND_WITHIN_S = 23 * 3600
# At most this many messages wait for /retry; past it the oldest is dropped, and the user told.
MAX_UNANSWERED = 100
# Answers that say nothing of whether the message was stored (``internal``: a node went away before
# answering, a commit whose fate the server could not learn, the database out of reach for a retry's
# read; docs/protocol.md: sent again with the same id, it is posted once), or that come before the
# server looked at it (not logged in now, a rate limit): the message is kept for /retry.
KEPT_ON = ("internal", "rate_limited", "unauthenticated", "blacklisted")


@dataclass
class Unanswered:
    """A message whose ``send`` got no answer: it may or may not be stored. /retry sends it again
    with the same arguments, its ``client_msg_id`` included, so it is posted once at most."""
    params: dict[str, Any]
    user_id: str | None  # who sent it: only they may send it again (the id is unique per user)
    at: float            # when it was first sent (time.time())


def token_path() -> Path:
    env = os.environ.get("QUNGUAN_TOKEN_FILE")
    return Path(env).expanduser() if env else Path.home() / ".qunguan_token"


def http_base(url: str) -> str:
    """``ws://host:port/ws`` -> ``http://host:port``: where the server's ``/media/...`` paths live."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return ""
    host = rest.split("/", 1)[0]
    return f"{'https' if scheme == 'wss' else 'http'}://{host}"


_EPOCH_MS = re.compile(r"\b(\d{10,16}) \(epoch ms\)")


def refusal_text(reason: Any, reply: dict[str, Any]) -> str:
    """A refusal's reason as the client prints it: a time the server spells in epoch milliseconds
    (``banned from this group until 1796182432586 (epoch ms)``) as a local time, then
    :func:`refusal_tail`. The server's text is otherwise kept as it is."""
    text = _EPOCH_MS.sub(lambda m: hhmm(int(m.group(1))), str(reason))
    return text + refusal_tail(reply, shown=text)


def _wait(ms: float) -> str:
    """``2.5 s``; a wait under a tenth of a second is rounded up, never said as ``0.0 s``."""
    return f"in {math.ceil(ms / 100) / 10:.1f} s" if ms > 0 else "now"


# Why a token no longer signs in, by the cause auth's refusal carries (the reason is the same for all).
LOGIN_ENDED_BY = {"logged_out": "this login was logged out (on another device or window, or on every device)",
                  "password_changed": "the password was changed: /login with the new one",
                  "too_many_logins": "this login was ended by newer ones of the account",
                  "account_deleted": "the account was cancelled",
                  "account_reopened": "the platform reopened the account: /login again"}


def refusal_tail(reply: dict[str, Any], shown: str = "") -> str:
    """What a refusal says beyond its reason: the wait of ``rate_limited``, the end of a measure
    that lasts (``until``: a mute, the platform's suspension of a group, which also keeps its owner
    from dissolving, handing on or renaming it and from taking on another group; ``banned_until``:
    a timed ban, unless the reason already says it), and the way out of the ``forbidden`` that waits
    for the platform's rules and agreement (``agreement_version``); why a token no longer signs in
    (``auth``'s ``cause``)."""
    ended = LOGIN_ENDED_BY.get(reply.get("cause")) if reply.get("code") == "unauthenticated" else None
    if ended:
        return f" - {ended}"
    version = reply.get("agreement_version")
    if isinstance(version, str) and version:
        v = clean(version)
        return f" - read them with /agreement, then accept them with /accept {v}"
    retry = reply.get("retry_after_ms")
    if isinstance(retry, (int, float)) and not isinstance(retry, bool):
        return f" (try again {_wait(retry)})"
    for key in ("until", "banned_until"):
        until = reply.get(key)
        if isinstance(until, int) and not isinstance(until, bool) and until > 0:
            at = hhmm(until)
            return "" if f"until {at}" in shown else f" (until {at})"
    return ""


def read_line(gid: Any, asked: Any, read_seq: Any) -> str:
    """The reply to ``/read SEQ``: where the marker stands now (``read_seq``), which is not always
    the SEQ typed: it only moves forward, and never past the group's last message."""
    if not isinstance(read_seq, int) or isinstance(read_seq, bool) or read_seq == asked:
        return f"* read {clean(gid)} up to #{clean(asked)}"
    if isinstance(asked, int) and read_seq > asked:
        return f"* nothing moved: {clean(gid)} is read up to #{read_seq} already"
    return f"* read {clean(gid)} up to #{read_seq} (its last message)"


def posting_state(g: dict[str, Any]) -> str:
    """What keeps the caller from posting in a ``my_groups`` entry, as a tail for ``/groups``: the
    platform's suspension of the group, the caller's own mute, or mute-all for a plain member."""
    def ends(key: str) -> int:
        v = g.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0

    why = []
    if ends("suspended_until"):
        frozen = " (category frozen)" if g.get("suspension_cause") == "category_freeze" else ""
        why.append(f"suspended until {hhmm(ends('suspended_until'))}{frozen}")
    if ends("muted_until"):
        why.append(f"muted until {hhmm(ends('muted_until'))}")
    elif g.get("mute_all") is True and g.get("role") == "member":
        why.append("everyone muted")
    return f"  [{'; '.join(why)}]" if why else ""


# Said once when logging in again meets the account's connection cap (rate_limits.connections_per_user).
AT_CAP = ("* this account has as many connections as the server allows: close this chat on another device or "
          "in another window; logging in again by itself until one is free")

# The server's close reasons that end a login for good (code 1008): no reconnecting with its token.
ENDED = {"account closed by the platform": "the platform closed your account (see the notice above)",
         "account cancelled": "the account was cancelled",
         "logged out": "you logged out with this token elsewhere",
         "logged out on every device": "this account was logged out on every device",
         "the password was changed": "the password was changed on another device: /login again with the new one",
         "logged out from another device": "you logged this device out from another one (its /logins)"}


def close_reason(exc: BaseException | None) -> str:
    """Why a connection closed, in a few words: the server's close reason (``authentication
    timeout``), else its close code, else the error."""
    if exc is None:
        return ""
    frame = getattr(exc, "rcvd", None)
    if frame is not None:
        return str(frame.reason or f"close code {frame.code}")
    return str(exc) or type(exc).__name__


# -- input ------------------------------------------------------------------------------

class LineReader:
    """Lines of stdin into an asyncio queue (``None`` at the end of input).

    A pipe is watched with ``add_reader`` (no thread, nothing to block exit); a
    terminal is read with ``input()`` in a daemon thread (line editing and history
    through ``readline``); anything else (a regular file, Windows) with a thread.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, stream: TextIO | None = None) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.stream = stream or sys.stdin
        self.thread: threading.Thread | None = None
        self._fd: int | None = None
        self._buf = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def start(self) -> None:
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            fd = None
        if fd is not None and os.isatty(fd):
            try:
                import readline  # noqa: F401  (line editing for input())
            except ImportError:
                pass
            self._thread(self._read_tty)
            return
        if fd is not None:
            try:
                self.loop.add_reader(fd, self._on_readable)
                self._fd = fd
                return
            except (NotImplementedError, PermissionError, OSError, ValueError):
                pass
        self._thread(self._read_stream)

    def stop(self) -> None:
        if self._fd is not None:
            self.loop.remove_reader(self._fd)
            self._fd = None

    def _thread(self, target: Callable[[], None]) -> None:
        self.thread = threading.Thread(target=target, name="stdin", daemon=True)
        self.thread.start()

    def _put(self, line: str | None) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, line)

    def _on_readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            rest = self._buf + self._decoder.decode(b"", final=True)
            if rest:
                self.queue.put_nowait(rest)
            self._buf = ""
            self.queue.put_nowait(None)
            self.stop()
            return
        self._buf += self._decoder.decode(data)
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            self.queue.put_nowait(line)

    def _read_tty(self) -> None:
        while True:
            try:
                line = input()
            except (EOFError, OSError, ValueError):
                break
            except KeyboardInterrupt:  # pragma: no cover
                break
            self._put(line)
        self._put(None)

    def _read_stream(self) -> None:
        buffer = getattr(self.stream, "buffer", None)
        while True:
            try:
                raw = buffer.readline() if buffer is not None else self.stream.readline()
            except (OSError, ValueError):
                break
            if not raw:
                break
            line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            self._put(line.rstrip("\r\n"))
        self._put(None)


# -- the client -------------------------------------------------------------------------

def gone_while_away(gid: str, exc: RequestError, current: bool) -> str:
    """What a reconnect's catch-up says of a group it could no longer read: the user was removed
    (or banned) while away, or the group dissolved or closed by the platform (its reason given)."""
    if exc.code == "not_member":
        what = f"you are no longer a member of {clean(gid)} (removed while you were away)"
    elif exc.code == "group_closed":
        why = refusal_text(exc.reason, exc.reply)
        what = f"group {clean(gid)} was closed by the platform while you were away: {why}"
    else:
        what = f"group {clean(gid)} no longer exists (dissolved while you were away)"
    return f"* {what}" + ("; no current group now (/groups, /use GID)" if current else "")


class ChatTUI:
    def __init__(self, url: str, out: TextIO | None = None, encoding: str = "msgpack",
                 token_file: Path | None = None, hl: Highlight = PLAIN,
                 width: Callable[[], int] | None = None) -> None:
        self.url = url
        self.width = width  # the terminal's columns now, to fold long lines (render.fold); None: a pipe
        self.hl = hl                        # how mentions are highlighted (ANSI on a terminal)
        self.http_base = http_base(url)     # attachment paths are shown as URLs on the same server
        self.last_seq: dict[str, int] = {}  # group_id -> the highest seq shown (for /read)
        # Groups whose messages sent while the connection was down were not shown yet: live ones and
        # search results do not move their /read point until /history has shown the latest page.
        self.missed: set[str] = set()
        # Groups made current this session (/use, /join, /create) with no message of theirs shown yet:
        # the seq to read on from after a reconnect (0: since joining; the latest seq when /use made
        # it current), so the catch-up reads them too (last_seq holds only groups with one shown).
        self.used_from: dict[str, int] = {}
        # The `at` of the newest platform notice shown (a live one or /notices), and when the
        # connection last dropped (ms, this machine's clock): what platform_notices reads on from
        # after a reconnect (events are not queued).
        self.notice_at: int | None = None
        self._dropped_at_ms: int | None = None
        self.out = out or sys.stdout
        self.encoding = encoding
        self.token_file = token_file or token_path()
        self.client: Client | None = None
        self.current: str | None = None
        self.token: str | None = None       # re-authenticates a re-opened connection
        self.names = Names()                # also who is logged in (user_id): see below
        self._pump: asyncio.Task[None] | None = None
        self._closing = False
        self._connect_lock = asyncio.Lock()
        self._reconnector: asyncio.Task[None] | None = None
        # The refusal the last attempt to log in again got (code, cause), said once: a wait that goes
        # on (the account's connections at their cap) is not printed again at every try.
        self._refused_again: tuple[str, Any] | None = None
        self._retry_after = 0.0  # seconds a refusal of the automatic re-login asked to wait (retry_after_ms)
        self.pending: Command | None = None  # a command waiting for "yes" (see ask)
        self.agreement_shown: str | None = None  # the version /agreement showed: what a bare /accept takes
        self.unanswered: list[Unanswered] = []  # messages sent without an answer, oldest first (/retry)
        self._catching_up: asyncio.Task[None] | None = None  # reads what was missed (see _catch_up)
        self._post_lines: asyncio.Task[None] | None = None  # the last post event waiting for its account's name
        self._account_refresh: asyncio.Task[None] | None = None  # an account's name read again (self_changed)
        self._live_while_missed: dict[str, set[int]] = {}  # seqs printed live meanwhile, by group
        self.cursors = ChangeCursors(REQUEST_TIMEOUT)  # what changed while away, in messages shown (changes.py)

    @property
    def user_id(self) -> str | None:
        """The logged-in user's id; kept in :attr:`names` (``me``), which marks their mentions."""
        return self.names.me

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self.names.me = value

    # output
    def say(self, text: str) -> None:
        if self.width is not None:
            text = fold(text, self.width())
        try:
            print(text, file=self.out, flush=True)
        except (BrokenPipeError, ValueError):  # nobody is reading any more
            pass

    def error(self, code: Any, reason: Any) -> None:
        self.say(f"! {clean(code)}: {clean(reason)}")

    # connection
    async def connect(self) -> Client:
        """The open connection, opening (and re-authenticating) one if needed."""
        async with self._connect_lock:
            if self.client is not None and not self.client.closed:
                return self.client
            reconnect = self.client is not None
            try:
                client = await asyncio.wait_for(Client.connect(self.url, encoding=self.encoding),
                                                REQUEST_TIMEOUT)
            except Exception as exc:  # refused, bad URL, handshake rejected, timeout
                raise Unreachable(f"cannot connect to {self.url}: {str(exc) or type(exc).__name__}") from exc
            self.client = client
            self._pump = asyncio.create_task(self._pump_events(client))
            if self._refused_again is None:  # (a try after a refusal already said stays quiet)
                self.say(f"* {'re' if reconnect else ''}connected to {self.url}")
            if self.token is not None:
                try:
                    # (set before the answer: a live message the pump shows right after it must not
                    # move a group's read point past what came while away)
                    self.missed = set(self.last_seq) | set(self.used_from)
                    self._live_while_missed = {}
                    await client.auth(self.token)
                    self._refused_again = None
                    self.say(f"* authenticated again as {clean(self.user_id)}; reading what you missed")
                    self.remind_unanswered()
                    # (in a task of its own: this holds the connection's lock, which its requests need)
                    self._catching_up = asyncio.create_task(self._catch_up(client))
                except RequestError as exc:
                    if exc.code in ("unauthenticated", "blacklisted"):
                        self.error(exc.code, refusal_text(exc.reason, exc.reply))
                        self._refused_again = None
                        # (the token is no longer good: its saved copy goes too, or a bare /auth would
                        # try it again; nothing of this login is left to read)
                        gone = self.forget_login()
                        self.say(f"* logged out{gone} - /login or /auth again")
                    else:
                        # A moment's refusal (internal during a failover, rate_limited): the token is
                        # kept, and this connection closed to log in again shortly (_reconnect). Said
                        # once while the same refusal repeats.
                        refused = (exc.code, exc.reply.get("cause") if isinstance(exc.reply, dict) else None)
                        wait = exc.reply.get("retry_after_ms") if isinstance(exc.reply, dict) else None
                        self._retry_after = wait / 1000 if isinstance(wait, int | float) and wait > 0 else 0.0
                        if refused != self._refused_again:
                            self.error(exc.code, refusal_text(exc.reason, exc.reply))
                            self.say(AT_CAP if refused == ("rate_limited", "connections_per_user")
                                     else "* logging in again shortly with the same token")
                        self._refused_again = refused
                        client.refused = True  # (its pump ends without a word: the refusal is said above)
                        await client.close()
                        raise
            return client

    async def _pump_events(self, client: Client) -> None:
        while True:
            get = asyncio.ensure_future(client.events.get())
            await asyncio.wait({get, client._reader}, return_when=asyncio.FIRST_COMPLETED)
            if get.done():
                self.show_event_safely(get.result())
                continue
            get.cancel()
            for ev in client.drain_events():
                self.show_event_safely(ev)
            if self._closing or client.refused:
                return
            why = close_reason(client.close_error)
            tail = f" ({clean(why)})" if why else ""
            if self.token is not None and why in ENDED:
                # Blacklisted (this login, or another of the same verified person), cancelled, or
                # logged out on another connection: the token is revoked, so reconnecting would only
                # be refused (and the saved copy would only fail the next /auth).
                gone = self.forget_login()
                self.say(f"* disconnected: {ENDED[why]}; logged out{gone} - /login or /auth again")
                return
            if self.token is None:
                self.say(f"* disconnected: the server closed the connection{tail} because it was not logged in "
                         "in time - no harm done; the next command reconnects")
            else:
                self._dropped_at_ms = int(time.time() * 1000)
                self.say(f"* disconnected: the connection closed{tail}; reconnecting")
                if self._reconnector is None or self._reconnector.done():  # (one loop at a time)
                    self._reconnector = asyncio.create_task(self._reconnect())
            return

    async def _reconnect(self) -> None:
        """Keep a logged-in session connected, so its events keep arriving."""
        delay = 0.5
        while not self._closing and self.token is not None:
            await asyncio.sleep(max(delay, self._retry_after))  # (a refusal's retry_after_ms: no sooner)
            self._retry_after = 0.0
            try:
                await self.connect()
                return
            except Unreachable:
                delay = min(delay * 2, 30.0)
            except Exception:  # the new connection dropped during auth: try again
                delay = min(delay * 2, 30.0)

    async def _catch_up(self, client: Client) -> None:
        """After logging in again by itself: what came while the connection was down, in each group
        whose messages this client had shown, and before it what changed meanwhile in the messages it
        had shown (**[ext]** message_changes: see changes.py) (one page each; a full one says how to read on, and the
        group stays "missed" for /read until the rest is read), then, as after /login, whether a new
        version of the rules waits for acceptance. A message already printed live meanwhile is not
        printed twice. The groups read are those with a message shown and those made current this
        session (:attr:`used_from`). Best effort: what cannot be read now stays for /history; a group
        the user is no longer in (removed, dissolved or closed while away) is said so and forgotten,
        and the others still read. Then the platform's notices sent meanwhile (**[ext]**
        ``platform_notices``, read on from :attr:`notice_at`)."""
        try:
            for gid in sorted(self.missed):
                after = self.last_seq.get(gid, self.used_from.get(gid, 0))
                try:
                    changed = await self.cursors.changed(client, gid, after)
                    r = await client.request("history", timeout=REQUEST_TIMEOUT, group_id=gid, after_seq=after,
                                             limit=CATCH_UP)
                except RequestError as exc:
                    if exc.code in ("not_member", "not_found", "group_closed"):
                        self.say(gone_while_away(gid, exc, gid == self.current))
                        self.forget_group(gid)
                    else:  # (a moment's refusal: said, and left for /history; the other groups still read)
                        self.say(f"* could not read what you missed in {clean(gid)}: "
                                 f"{refusal_text(exc.reason, exc.reply)} - /use {clean(gid)} then /history")
                    continue
                except TimeoutError:
                    self.say(f"* could not read what you missed in {clean(gid)} (no answer) - "
                             f"/use {clean(gid)} then /history")
                    continue
                if changed:
                    n = len(changed)
                    self.say(f"* while you were away, in {clean(gid)}: {n} earlier message{'s' * (n != 1)} changed")
                    for m in changed:
                        self.names.learn(m.get("sender"))
                        self.say(format_message({**m, "group_id": gid}, self.names, hl=self.hl, base=self.http_base))
                msgs = [m for m in r.get("messages") or [] if isinstance(m, dict)]
                live = self._live_while_missed.pop(gid, set())
                full = len(msgs) >= CATCH_UP
                fresh = sum(m.get("seq") not in live for m in msgs)
                if fresh:
                    self.say(f"* while you were away, in {clean(gid)}: {fresh} message{'s' * (fresh != 1)}")
                self.show_page(gid, msgs, latest=not full, printed=live)
                if full:
                    self.say(f"* more: /use {clean(gid)} then /history {CATCH_UP} after {clean(msgs[-1].get('seq'))}")
            await self.notices_while_away(client)
            await self.tell_pending_agreement(client)
        except asyncio.CancelledError:
            raise
        except Exception:  # (the connection dropped again, a refusal: the next reconnect reads again)
            pass

    async def notices_while_away(self, client: Client) -> None:
        """The platform's notices sent while the connection was down (an emergency, a maintenance
        window): events are not queued, so they are read (**[ext]** ``platform_notices``) after the
        newest one shown, or, none shown yet, after the moment the connection dropped (a few minutes
        before it, for a clock that runs ahead of the server's)."""
        after = self.notice_at
        if after is None and self._dropped_at_ms is not None:
            after = self._dropped_at_ms - NOTICE_CLOCK_SLACK_MS
        if after is None:
            return
        try:
            r = await client.request("platform_notices", timeout=REQUEST_TIMEOUT, after=after)
        except RequestError:  # (a server without the op)
            return
        rows = [x for x in r.get("notices") or [] if isinstance(x, dict)]
        if rows:
            self.say(f"* while you were away, the platform's notices to you: {len(rows)}")
            for x in rows:
                self.say(format_platform_notice(x))
            self.saw_notices(rows)

    def saw_notices(self, rows: list[Any]) -> None:
        """Platform notices shown: :attr:`notice_at` moves to the newest ``at``."""
        for x in rows:
            at = x.get("at") if isinstance(x, dict) else None
            if isinstance(at, int) and not isinstance(at, bool) and (self.notice_at is None or at > self.notice_at):
                self.notice_at = at

    def show_page(self, gid: str, msgs: list[dict[str, Any]], latest: bool,
                  printed: AbstractSet[int] = frozenset()) -> None:
        """A page of ``gid``'s history, oldest first: each message printed (but those in ``printed``,
        shown live already) and seen; ``latest``: nothing newer exists, so the group is no longer
        "missed" (see :meth:`seen`)."""
        for m in msgs:
            self.names.learn(m.get("sender"))
            self.seen({**m, "group_id": gid}, latest=latest)
            if m.get("seq") not in printed:
                self.say(format_message(m, self.names, hl=self.hl, base=self.http_base))
        if latest:
            self.missed.discard(gid)

    def forget_group(self, gid: str) -> None:
        """The user is no longer in group ``gid``: nothing of it is read after a reconnect."""
        self.last_seq.pop(gid, None)
        self.used_from.pop(gid, None)
        self.missed.discard(gid)
        self._live_while_missed.pop(gid, None)
        self.cursors.forget(gid)
        if self.current == gid:
            self.current = None

    def show_event_safely(self, ev: Any) -> None:
        """:meth:`show_event`, but an event this client cannot read is said so and skipped: it must not
        end the task that shows every later one (and notices a dropped connection)."""
        try:
            self.show_event(ev)
        except Exception:
            kind = ev.get("ev") if isinstance(ev, dict) else None
            named = clean(kind) if isinstance(kind, str) else "no kind"
            self.say(f"* an event this client cannot read was skipped ({named})")

    def show_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("ev")
        gid, seq = ev.get("group_id"), ev.get("seq")
        # A group's messages come live in seq order: one at or below what this client has shown of the
        # group was printed already, by a catch-up or /history page read while its event was on the way.
        # (A released message has an earlier seq by nature: it was held.)
        repeat = (kind == "message" and isinstance(gid, str) and isinstance(seq, int) and gid not in self.missed
                  and seq <= self.last_seq.get(gid, 0))
        if kind == "post" and self.client is not None:  # (named once its name is read again)
            self._post_lines = asyncio.create_task(self._show_post_event(ev, self._post_lines))
        elif not repeat:
            self.say(format_event(ev, self.names, hl=self.hl, base=self.http_base))
        if kind == "self_changed" and ev.get("what") == "accounts" and ev.get("account_id") and self.client:
            # one's own account opened or renamed on another device: its name as it is now
            self._account_refresh = asyncio.create_task(self.learn_account(str(ev["account_id"])))
        if kind == "editor_changed" and ev.get("account_id") and ev.get("name"):
            self.names.learn_account({"account_id": ev["account_id"], "name": ev["name"]})
        if kind in ("message", "message_released"):
            if isinstance(gid, str) and gid in self.missed and isinstance(seq, int):
                self._live_while_missed.setdefault(gid, set()).add(seq)
            self.seen(ev)
        if kind in CHANGES_SHOWN and isinstance(gid, str) and gid not in self.missed:
            self.cursors.moved(self.client, gid)  # (while missed: the catch-up reads from the old cursor)
        if kind == "notice" and ev.get("kind") == "platform":
            self.saw_notices([ev])
        if kind in ("group_dissolved", "group_closed") and isinstance(gid, str):
            if gid == self.current:
                self.say("* no current group now (/groups, /use GID)")
            self.forget_group(gid)
        elif kind in ("member_removed", "member_left") and ev.get("user_id") == self.user_id and isinstance(gid, str):
            if kind == "member_removed":
                how = "banned from" if ev.get("banned") else "removed from"
                now = "; no current group now (/groups, /use GID)" if gid == self.current else ""
                self.say(f"* you were {how} {clean(gid)}{now}")
            self.forget_group(gid)  # (member_left: left on another device)

    async def close(self) -> None:
        self._closing = True
        for task in (self._reconnector, self._catching_up, self._post_lines, self._account_refresh):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.client is not None:
            try:
                await asyncio.wait_for(self.client.close(), 3)
            except Exception:
                pass
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)

    async def request(self, op: str, **params: Any) -> dict[str, Any]:
        client = await self.connect()
        return await client.request(op, timeout=REQUEST_TIMEOUT, **params)

    # commands
    async def handle_line(self, line: str) -> bool:
        """Run one input line; ``False`` when the client should exit."""
        try:
            if self.pending is not None and await self.answer(line):
                return True
            cmd = parse_command(line)
            if cmd is None:
                return True
            if cmd.action == "quit":
                return False
            await self.execute(cmd)
        except CommandError as exc:
            self.error(exc.code, exc.message)
        except RequestError as exc:
            self.error(exc.code, refusal_text(exc.reason, exc.reply))
        except Exception as exc:  # never let one line end the session
            failed = no_answer(exc)  # timeout, connect_failed, disconnected
            if failed is not None:
                self.error(*failed)
            else:
                self.error("client_error", f"{type(exc).__name__}: {exc}")
        return True

    async def execute(self, cmd: Command, confirmed: bool = False) -> None:
        if cmd.action == "help":
            self.say(help_text())
            return
        if cmd.action in ("accounts", "post"):
            await self.public_action(cmd)
            return
        if cmd.confirm and not confirmed:
            await self.ask(cmd)
            return
        if cmd.action == "use":
            await self.use(cmd.params["group_id"])
            return
        if cmd.action == "upload":
            await self.upload(cmd)
            return
        if cmd.action == "retry":
            await self.retry()
            return
        assert cmd.op is not None
        params = bind(cmd, self.current)
        if cmd.op == "auth" and "token" not in params:
            params["token"] = self.load_token()
        if cmd.op == "accept_agreement" and "version" not in params:
            if self.agreement_shown is None:
                raise CommandError("usage", "read the rules and agreement first: /agreement (then /accept), "
                                            "or /accept VERSION")
            params["version"] = self.agreement_shown
        name = needs_resolving(cmd)
        if name is not None:
            gid = params.get("group_id")
            if gid is None:
                raise CommandError("no_group", "@names are looked up in the current group: /use GID first")
            if cmd.user_rest:
                users, where = await self.users_of(cmd.user_source, gid)
                bind_user_rest(cmd, params, *split_user(users, name, where))
            else:
                params[cmd.user_param] = await self.resolve(cmd.user_source, gid, name)  # type: ignore[index]
        if cmd.op == "mark_read" and "seq" not in params:
            params["seq"] = self.last_seq_of(params["group_id"])
        if cmd.op == "send":
            await self.mentions_or_not_sent(params)
            reply = await self.send_message(params)
        else:
            reply = await self.request(cmd.op, **params)
        if cmd.op in ("subscribe", "posts"):
            # so its post events show its name; /posts: by the name it has now (the account may
            # have been renamed since it was learnt: no event says so to a follower)
            await self.learn_account(params["account_id"], reply)
        elif cmd.op == "read_post" and isinstance(reply, dict) and reply.get("account_id"):
            await self.learn_account(str(reply["account_id"]), reply)
        self.show_reply(cmd, params, reply)
        if cmd.op in ("login", "auth"):
            # one's own display name, so mentions of oneself are shown by name (a nicety: a
            # refusal here changes nothing about the login that just succeeded)
            try:
                self.names.learn(await self.request("me"))
            except RequestError:
                pass
            await self.tell_pending_agreement()

    async def tell_pending_agreement(self, client: Client | None = None) -> None:
        """After a login: say so when the platform's rules and agreement wait for this user's
        acceptance (neither ``login`` nor ``me`` tells; until accepted, nothing they send is accepted).
        A server without the ``agreement`` op has nothing to accept. ``client``: the connection to ask
        on (the one being opened, after logging in again by itself)."""
        try:
            r = await (client.request("agreement", timeout=REQUEST_TIMEOUT) if client is not None
                       else self.request("agreement"))
        except RequestError:
            return
        version = r.get("version")
        if isinstance(version, str) and version and r.get("accepted") is False:
            v = clean(version)
            self.say(f"* the platform's rules and service agreement (version {v}) wait for your acceptance: "
                     f"read them with /agreement, then /accept {v}; until then nothing you send is accepted")

    async def resolve(self, source: str, gid: str, name: str) -> str:
        """The user_id of ``@name`` among the group's members, join requests or bans (a banned
        user is no longer a member: the name is one this client learnt earlier), or the people this
        client has seen anywhere (``seen``: an invitation, which goes to someone not in the group;
        ``members+seen``: a ban, a member's or not)."""
        seen = [{"user_id": uid, "display_name": n} for uid, n in self.names.names.items()]
        if source == "seen":
            return pick_user(seen, name, "the people this client has seen")
        if source == "members+seen":
            users, where = await self.users_of("members", gid)
            if any(u.get("display_name") == name for u in users):
                return pick_user(users, name, where)
            return pick_user(seen, name, f"{where} or the people this client has seen")
        if source == "bans":
            bans = (await self.request("bans", group_id=gid)).get("bans") or []
            users = [{"user_id": b.get("user_id"), "display_name": self.names.names.get(str(b.get("user_id")))}
                     for b in bans]
            return pick_user(users, name, f"the bans of {gid}")
        users, where = await self.users_of(source, gid)
        return pick_user(users, name, where)

    async def users_of(self, source: str, gid: str) -> tuple[list[dict[str, Any]], str]:
        """The group's members or join requests (``source``), and the words naming them."""
        key = "requests" if source == "join_requests" else "members"
        users = (await self.request(source, group_id=gid))[key]
        for u in users:
            self.names.learn(u)
        return users, f"{gid} {key}"

    async def add_mentions(self, params: dict[str, Any]) -> None:
        """``mentions`` / ``mention_all`` from the ``@name``s in the text (members looked up when
        the text has an ``@``, so names are current)."""
        text = params.get("text", "")
        if "@" not in text:
            return
        users = (await self.request("members", group_id=params["group_id"])).get("members") or []
        for u in users:
            self.names.learn(u)
        found = find_mentions(text, users)
        if found.user_ids:
            params["mentions"] = found.user_ids
        if found.everyone:
            params["mention_all"] = True
        for name in found.ambiguous:
            self.say(f"* @{clean(name)} is the name of several members: not mentioned (write @USER_ID)")

    def seen(self, m: dict[str, Any], *, latest: bool = False) -> None:
        """Remember the highest seq shown per group, for /read; ``latest``: shown with every message
        before it (the latest page of /history). A group with messages missed while the connection
        was down (:attr:`missed`) moves only with such a page: a bare /read would mark them read."""
        gid, seq = m.get("group_id"), m.get("seq")
        if not isinstance(gid, str) or (gid in self.missed and not latest):
            return
        if isinstance(seq, int) and seq > self.last_seq.get(gid, 0):
            self.last_seq[gid] = seq
            self.cursors.want(self.client, gid)  # (once: from then on its changes come live, or by the cursor)

    def last_seq_of(self, gid: str) -> int:
        seq = self.last_seq.get(gid)
        if seq is None:
            raise CommandError("nothing_shown", f"no message of {gid} shown yet: /history first, or /read SEQ")
        return seq

    async def upload(self, cmd: Command) -> None:
        """``/upload PATH [TEXT]``: the file in chunks, then a message carrying it."""
        params = bind(cmd, self.current)
        try:
            path = Path(params["path"]).expanduser()
        except RuntimeError:  # ~user with no home (no such user)
            raise CommandError("no_file", f"cannot read {clean(params['path'])}: no such user's home") from None
        media = await upload_file(self.request, path)
        self.say(f"* uploaded {clean(media['name'])} ({clean(media.get('mime'))}, {human_size(media.get('size'))})"
                 f" as {clean(media.get('media_id'))}")
        send = {"group_id": params["group_id"], "text": params["text"], "attachments": [media["media_id"]]}
        await self.mentions_or_not_sent(send)
        try:
            sent = await self.send_message(send)
        except RequestError as exc:
            if exc.code != "rate_limited":
                raise
            # (slow mode, the send rate: a wait, not a no. Kept as an unanswered message is, so that
            # /retry sends it with the file once the wait is over, rather than the file uploaded again.)
            self._keep(send)
            raise CommandError(exc.code, f"{refusal_text(exc.reason, exc.reply)} - the file is uploaded, and "
                                         "your message with it waits: /retry sends it once the wait is over") \
                from exc
        held = format_held("send", send, sent)
        if held is not None:
            self.say(held)

    # sending a message, and sending it again after no answer
    async def mentions_or_not_sent(self, params: dict[str, Any]) -> None:
        """:meth:`add_mentions`, which may ask the server for the members; if that gets no answer,
        the message was not sent at all, and the error says so (nothing is kept for /retry: there
        is no doubt to settle)."""
        try:
            await self.add_mentions(params)
        except Exception as exc:
            failed = no_answer(exc)
            if failed is None:
                raise
            code, reason = failed
            raise CommandError(code, f"{reason} - your message to {params.get('group_id')} was not sent (its "
                                     "@names could not be looked up): type it again") from exc

    async def send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """``send`` with a new ``client_msg_id``. When no answer comes (timeout, connection lost,
        server unreachable) the message is kept for /retry and the error says so."""
        params["client_msg_id"] = uuid.uuid4().hex
        try:
            return await self.request("send", **params)
        except RequestError as exc:
            if exc.code != "internal":  # (a refusal: nothing was stored)
                raise
            code, reason = exc.code, refusal_text(exc.reason, exc.reply)
            self._keep(params)
            raise CommandError(code, f"{reason} - your message to {params.get('group_id')} may or may not be "
                                     "posted: /retry sends it again, and it is never posted twice") from exc
        except Exception as exc:
            failed = no_answer(exc)
            if failed is None:
                raise
            self._keep(params)
            code, reason = failed
            raise CommandError(code, f"{reason} - your message to {params.get('group_id')} may not be posted: "
                                     "/retry sends it again, and it is never posted twice") from exc

    def _keep(self, params: dict[str, Any]) -> None:
        """Keep a message that got no answer for /retry; past :data:`MAX_UNANSWERED`, the oldest goes."""
        self.unanswered.append(Unanswered(dict(params), self.user_id, time.time()))
        if len(self.unanswered) > MAX_UNANSWERED:
            gone = self.unanswered.pop(0)
            self.say(f"* no longer kept for /retry (more than {MAX_UNANSWERED} wait): your message to "
                     f"{clean(gone.params.get('group_id'))}: {clean(gone.params.get('text', ''))}")

    def remind_unanswered(self) -> None:
        """After logging in again on a new connection: the messages /retry would send again."""
        n = len(self.unanswered)
        if n:
            self.say(f"* {n} message{'s' if n > 1 else ''} you sent got no answer: /retry sends "
                     f"{'them' if n > 1 else 'it'} again, and none is posted twice")

    async def retry(self) -> None:
        """``/retry``: the messages that got no answer, sent again oldest first with their own
        ``client_msg_id``: the server stores one it has not stored yet, and answers one it has with
        its first ``seq`` (posting nothing), so either way each message is posted once. A refusal is
        an answer: that message is dropped (one of :data:`KEPT_ON`, which says nothing of whether it
        was stored, keeps it, with those after it; ``rate_limited`` keeps it and the later ones of its
        group, in order, and the other groups' go on). Another timeout or lost connection stops here
        and keeps the rest."""
        if not self.unanswered:
            self.say("* nothing to send again: every message you sent got an answer")
            return
        pending, self.unanswered = self.unanswered, []
        waiting: set[Any] = set()  # groups whose earlier message waits: theirs stay in order behind it
        for i, u in enumerate(pending):
            gid, text = clean(u.params.get("group_id")), clean(u.params.get("text", ""))
            if u.params.get("group_id") in waiting:
                self.unanswered.append(u)
                continue
            if u.user_id != self.user_id:
                self.say(f"* not sent again: your message to {gid} was sent as {clean(u.user_id)}, "
                         f"not as who is logged in now: {text}")
                continue
            if time.time() - u.at > RESEND_WITHIN_S:
                self.say(f"* not sent again: your message to {gid} of {hhmm(u.at * 1000)} is too old to send "
                         f"again safely; see /history, and type it again if it is not there: {text}")
                continue
            try:
                r = await self.request("send", **u.params)
            except RequestError as exc:
                self.error(exc.code, refusal_text(exc.reason, exc.reply))
                if exc.code == "rate_limited":  # (this group's wait: the other groups' go on)
                    self.say(f"* kept: your message to {gid} waits for /retry: {text}")
                    waiting.add(u.params.get("group_id"))
                    self.unanswered.append(u)
                    continue
                if exc.code in KEPT_ON:  # (no word on whether it is stored: kept, with those after it)
                    self.say(f"* kept: your message to {gid} waits for /retry: {text}")
                    self.unanswered.extend(pending[i:])
                    return
                self.say(f"* not posted: your message to {gid}: {text}")
                continue
            except BaseException as exc:
                self.unanswered.extend(pending[i:])
                failed = no_answer(exc) if isinstance(exc, Exception) else None
                if failed is None:
                    raise
                code, reason = failed
                raise CommandError(code, f"{reason} - {len(self.unanswered)} message(s) still wait for /retry") \
                    from exc
            held = format_held("send", u.params, r)
            self.say(held if held is not None else
                     f"* sent again: your message to {gid} is #{clean(r.get('seq'))} (posted once): {text}")

    async def ask(self, cmd: Command) -> None:
        """Hold ``cmd`` until the next line says yes (the commands that ask: /deleteaccount, and
        /closeaccount after showing which account it is: a wrong id fails here, before anyone is
        asked anything)."""
        if cmd.op == "delete_account":
            self.pending = cmd
            self.say("* cancel your account for good? You leave every group, your name shows as 已注销用户, "
                     "and you cannot log in again; the platform keeps its records for the retention period. "
                     "Type yes to cancel it, anything else keeps it.")
            return
        aid = cmd.params["account_id"]
        self.names.learn_account(await self.request("account_info", account_id=aid))
        self.pending = cmd
        self.say(close_question(aid, self.names))

    async def answer(self, line: str) -> bool:
        """The line after a question: ``yes`` sends the held command; anything else keeps it unsent
        (``no`` or a blank line is used up; any other line then runs as usual: False)."""
        cmd, self.pending = self.pending, None
        assert cmd is not None
        word = line.strip().lower()
        # (cancelling one's account cannot be undone: the whole word, as terminal.md and the question say)
        if word == "yes" or (word == "y" and cmd.op != "delete_account"):
            await self.execute(cmd, confirmed=True)
            return True
        shown = "" if cmd.op == "delete_account" else " " + " ".join(cmd.args)  # (not the password)
        self.say(f"* /{cmd.name}{shown} not done")
        return word in ("", "no", "n")

    async def learn_account(self, aid: str, reply: Any = None) -> None:
        """Remember an account's name as it is now: the one ``reply`` carries (``account_name``),
        else asked again (a nicety: a refusal here changes nothing)."""
        if isinstance(reply, dict) and reply.get("account_name"):
            self.names.learn_account({"account_id": aid, "name": reply["account_name"]})
            return
        try:
            self.names.learn_account(await self.request("account_info", account_id=aid))
        except (RequestError, TimeoutError):
            pass

    async def _show_post_event(self, ev: dict[str, Any], before: asyncio.Task[None] | None) -> None:
        """A followed account's new post, named by the name the account has now (it may have been
        renamed since this client learnt it: no event tells a follower). In the order they came."""
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        aid = ev.get("account_id")
        if aid is not None and self.client is not None and self.token is not None:
            try:
                await asyncio.wait_for(self.learn_account(str(aid)), REQUEST_TIMEOUT)
            except Exception:  # (the name as known, or the id alone: the line is shown anyway)
                pass
        self.say(format_event(ev, self.names, hl=self.hl, base=self.http_base))

    async def public_action(self, cmd: Command) -> None:
        """/accounts (two lists) and /post (the post, then its comments unless they are closed)."""
        if cmd.action == "accounts":
            mine = (await self.request("my_accounts")).get("accounts") or []
            following = (await self.request("my_subscriptions")).get("accounts") or []
            for line in accounts_lines(mine, following, self.names):
                self.say(line)
            return
        pid = cmd.params["post_id"]
        post = await self.request("read_post", post_id=pid)
        if post.get("account_id"):  # (by the name it has now: it may have been renamed)
            await self.learn_account(str(post["account_id"]), post)
        for line in format_post(post, self.names, self.http_base):
            self.say(line)
        # (also when comments are closed: those written before stay readable; none: nothing to ask)
        if post.get("comments") != "closed" or post.get("comment_count", 1):
            comments = (await self.request("comments", post_id=pid)).get("comments") or []
            for line in format_comments(pid, comments, self.names, COMMENTS_PAGE):
                self.say(line)

    async def use(self, gid: str) -> None:
        info = await self.request("group_info", group_id=gid)
        self.current = gid
        self.say(f"* current group: {gid} ({clean(info.get('name'))})")
        if gid not in self.last_seq and gid not in self.used_from:
            # where a reconnect's catch-up reads on from, no message of it shown yet (best effort)
            try:
                latest = (await self.request("history", group_id=gid, limit=1)).get("messages") or []
            except (RequestError, TimeoutError):
                return
            seq = latest[-1].get("seq") if latest and isinstance(latest[-1], dict) else 0
            self.used_from[gid] = seq if isinstance(seq, int) and not isinstance(seq, bool) else 0

    def used(self, gid: str | None) -> None:
        """``gid`` was created or joined this session: a reconnect's catch-up reads it from the start
        (a member sees what came since joining), shown messages of it or not."""
        if gid is not None and gid not in self.last_seq:
            self.used_from.setdefault(gid, 0)

    def forget_login(self) -> str:
        """This client's login is over (logged out, cancelled, closed by the platform): the token is
        dropped, its saved copy removed (another login's token saved since is left alone), and what
        was shown for the user forgotten, so a next login starts clean (no current group, no read
        point, no message of theirs left to /retry as someone else). Returns a tail for the line that
        says so."""
        token, self.token = self.token, None
        self.forget_user()
        self.user_id = None
        if self.client is not None:
            self.client.user_id = self.client.token = None
        try:
            saved = self.token_file.read_text(encoding="utf-8").strip()
        except OSError:
            return ""
        if token is None or saved != token:
            return ""
        try:
            self.token_file.unlink()
        except OSError as exc:
            return f" (the saved token in {self.token_file} could not be removed: {exc})"
        return f" (the saved token in {self.token_file} removed)"

    def forget_user(self) -> None:
        """What this client knows of the logged-in user's session: gone with the login (the names
        it saw too: another account's /invite @name must not find them, nor its catch-up print)."""
        if self._catching_up is not None:
            self._catching_up.cancel()
        self.names = Names()
        self.current = None
        self.last_seq, self.missed, self._live_while_missed = {}, set(), {}
        self.used_from, self.notice_at, self._dropped_at_ms = {}, None, None
        self.cursors.forget()
        self.agreement_shown = None
        self.unanswered = []
        self.pending = None

    def load_token(self) -> str:
        if self.token:
            return self.token
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError:
            token = ""
        if not token:
            raise CommandError("no_token", f"no saved token in {self.token_file}: /login first or /auth TOKEN")
        return token

    def save_token(self, token: str) -> str:
        try:
            self.token_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # (a file that was there keeps its mode otherwise)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(token + "\n")
            return f"saved to {self.token_file}"
        except OSError as exc:
            return f"not saved: {exc}"

    def own_login_id(self) -> str | None:
        """This client's login as ``my_logins`` names it: the first 16 hex digits of its token's SHA-256."""
        return hashlib.sha256(self.token.encode()).hexdigest()[:16] if isinstance(self.token, str) else None

    def show_logins(self, logins: list[dict[str, Any]]) -> None:
        """``  LOGIN  [this one]  DEVICE, logged in HH:MM``: the state in brackets on every row, before
        the device's name (which whoever logged in chose: after it, ", this one" could be faked, as
        a role tag after a display name could)."""
        for x in logins:
            where = clean(x.get("device")) or "unknown device"
            state = "this one" if x.get("current") else f"online ({x.get('online')})" if x.get("online") else "offline"
            self.say(f"  {clean(x.get('login_id'))}  [{state}]  {where}, logged in {hhmm(x.get('created_at'))}")
        self.say("* /logout LOGIN ends one of them" if logins else "* no logins")

    def show_reply(self, cmd: Command, params: dict[str, Any], r: dict[str, Any]) -> None:
        op, gid = cmd.op, params.get("group_id")
        who = self.names(params["user_id"]) if "user_id" in params else ""
        held = format_held(str(op), params, r)
        if op == "send":
            if held is not None:  # no message event comes: say where it went
                self.say(held)
            return  # the message event shows it
        if held is not None:
            self.show_held(cmd, params, r, held)
            return
        if op == "request_code":
            self.say(f"* code sent to {params['phone']}")
        elif op == "register":
            self.say(f"* registered {params['username']} (user_id {clean(r.get('user_id'))}); "
                     f"now /login {params['username']} PASSWORD")
        elif op == "login":
            if r.get("user_id") != self.user_id:
                self.forget_user()  # (another account: nothing of the one before carries over)
            self.token, self.user_id = r.get("token"), r.get("user_id")
            assert self.client is not None
            self.client.user_id, self.client.token = self.user_id, self.token
            saved = self.save_token(str(self.token))
            self.say(f"* logged in as {params['username']} (user_id {clean(self.user_id)})")
            # (where it was saved, never the token itself: a password's equal, it would stay in the
            # scrollback, a shared screen, a screenshot)
            self.say(f"* token {saved}; expires {hhmm(r.get('expires_at'))}")
        elif op == "auth":
            if r.get("user_id") != self.user_id:
                self.forget_user()
            self.token, self.user_id = params["token"], r.get("user_id")
            assert self.client is not None
            self.client.user_id, self.client.token = self.user_id, self.token
            self.say(f"* authenticated as {clean(self.user_id)}")
        elif op == "logout" and params.get("login_id") not in (None, self.own_login_id()):
            self.say(f"* login {clean(params['login_id'])} logged out: that device must log in again")
        elif op in ("logout", "delete_account"):
            gone = self.forget_login()
            what = ("your account is cancelled; logged out" if op == "delete_account"
                    else "logged out on every device: every token of this account is revoked"
                    if params.get("everywhere") else "logged out: the token is revoked")
            self.say(f"* {what}{gone}")
        elif op == "my_logins":
            self.show_logins(r.get("logins") or [])
        elif op == "change_password":
            self.say("* password changed: every other login of this account has ended (this one goes on)")
        elif op == "verify_identity":
            self.say("* identity verified")
        elif op == "set_profile":
            self.say(f"* display name set to {clean(params['display_name'])}")
        elif op == "agreement":
            self.show_agreement(r)
        elif op == "platform_notices":
            rows = r.get("notices") or []
            self.say(f"* the platform's notices to you: {len(rows)}")
            for x in rows:
                self.say(format_platform_notice(x))
            self.saw_notices(rows)
        elif op == "accept_agreement":
            self.say(f"* you accepted the platform's rules and service agreement (version "
                     f"{clean(params['version'])}); you may send again")
        elif op == "me":
            self.user_id = r.get("user_id", self.user_id)
            self.names.learn(r)
            fields = ("user_id", "username", "display_name", "phone_verified", "id_verified", "credit_level")
            shown = {k: ("yes" if r[k] is True else "no" if r[k] is False else r[k]) for k in fields if k in r}
            self.say("* " + ", ".join(f"{k}={clean(v)}" for k, v in shown.items()))
        elif op == "create_group":
            self.current = clean(r["group_id"]) if r.get("group_id") is not None else None  # (printed as is)
            self.used(self.current)
            self.say(f"* created group {clean(self.current)} ({clean(params['name'])}); it is the current group")
        elif op == "join_group":
            gid = clean(r.get("group_id") or gid)
            if r.get("status") == "joined":
                self.current = gid
                self.used(gid)
                self.say(f"* joined {gid}; it is the current group")
            else:
                self.say(f"* asked to join {gid} ({clean(r.get('status'))}); wait for an owner or admin")
        elif op == "leave_group":
            self.forget_group(str(gid))
            self.say(f"* left {gid}")
        elif op == "my_groups":
            groups = r.get("groups") or []
            if not groups:
                self.say("* you are in no groups")
            for g in groups:
                mark = "*" if g.get("group_id") == self.current else " "
                unread = g.get("unread")
                tail = f"  {unread} unread" if isinstance(unread, int) and unread > 0 else ""
                if g.get("mentioned") is True and tail:
                    tail += ", you are mentioned"
                tail += posting_state(g)
                # (your role in brackets before the group's name, which could spell out "(owner)")
                self.say(f" {mark}{clean(g.get('group_id'))}  [{clean(g.get('role'))}]  {clean(g.get('name'))}{tail}")
        elif op == "categories":
            for key, what in (("groups", "group"), ("accounts", "public-account")):
                self.say(f"* {what} categories: " + ", ".join(clean(c) for c in r.get(key) or []))
        elif op == "group_info":
            owner = r.get("owner") or {}
            self.names.learn(owner)
            self.say(f"* group {clean(r.get('group_id'))}: {clean(r.get('name'))}")
            self.say(f"  category {clean(r.get('category'))}, join policy {clean(r.get('join_policy'))}, "
                     f"{clean(r.get('member_count'))}/{clean(r.get('max_members'))} members")
            self.say(f"  owner {clean(owner.get('display_name'))} ({clean(owner.get('user_id'))})")
            if r.get("announcement"):
                self.say(f"  announcement: {clean(r['announcement'])}")
            if r.get("pinned"):
                self.say("  pinned: " + ", ".join(f"#{clean(s)}" for s in r["pinned"]))
            if isinstance(r.get("slow_mode_seconds"), int) and r["slow_mode_seconds"] > 0:
                self.say(f"  slow mode: a member may send once per {format_duration(r['slow_mode_seconds'])}")
        elif op in ("members", "join_requests"):
            users = r.get("members" if op == "members" else "requests") or []
            label = "members of" if op == "members" else "join requests for"
            self.say(f"* {label} {gid}: {len(users)}")
            for u in users:
                self.names.learn(u)
                self.say(format_user(u) if op == "members" else format_join_request(u))
        elif op == "history":
            msgs = r.get("messages") or []
            self.say(f"* history of {gid}: {len(msgs)} message{'s' * (len(msgs) != 1)}")
            # (up to the newest message: not a page before a seq, nor a full page after one, which
            # holds the earliest messages after it and leaves newer ones unshown)
            limit = min(params.get("limit", 50), HISTORY_MAX)  # (the server's page is at most that)
            latest = "before_seq" not in params and ("after_seq" not in params or len(msgs) < limit)
            self.show_page(str(gid), msgs, latest)
            if msgs and len(msgs) >= limit and "after_seq" not in params:
                self.say(f"* older: /history {limit} before {clean(msgs[0].get('seq'))}")
            elif msgs and len(msgs) >= limit:
                self.say(f"* newer: /history {limit} after {clean(msgs[-1].get('seq'))}")
        elif op == "report":
            self.say(f"* report filed (id {clean(r.get('report_id'))})")
        elif op in ("my_reports", "my_appeals"):
            self.show_mine(str(op), params, r)
        elif op == "my_held_texts":
            self.show_held_texts(params, r)
        elif op == "my_sanctions":
            rows = r.get("sanctions") or []
            self.say(f"* measures standing against you or your groups: {len(rows)}" + (
                " (/appeal ID REASON contests one)" if rows else ""))
            for x in rows:
                self.say(format_my_sanction(x))
        elif op == "withdraw_held_text":
            self.say(f"* withdrew held text {clean(params.get('held_id'))}: it no longer waits for review")
        elif op == "appeal":
            self.say(f"* appeal filed (id {clean(r.get('appeal_id'))}); /appeals shows how it is decided")
        elif op == "mute":
            secs = params["seconds"]
            self.say(f"* unmuted {who}" if secs == 0 else f"* muted {who} for {format_duration(secs)}")
        elif op == "mute_all":
            self.say(f"* everyone {'is muted' if params['on'] else 'may speak again'} in {gid}")
        elif op == "set_role":
            self.say(f"* {who} is now {params['role']} in {gid}")
        elif op == "transfer_owner":
            self.say(f"* {who} now owns {gid}")
        elif op == "dissolve_group":
            self.forget_group(str(gid))
            self.current = None
            self.say(f"* dissolved {gid}")
        elif (lines := public_reply(str(op), params, r, self.names, self.http_base)) is not None:
            for line in lines:
                self.say(line)
        elif not self.show_v2_reply(str(op), params, r, who):
            done = {"kick": "kicked", "invite": "invited", "approve_join": "approved",
                    "reject_join": "rejected", "set_announcement": "announcement set",
                    "update_group": "group updated", "delete_message": f"deleted #{params.get('seq')}"}
            self.say(f"* {done.get(str(op), 'done')}{' ' + who if who else ''}")

    def show_held(self, cmd: Command, params: dict[str, Any], r: dict[str, Any], line: str) -> None:
        """A reply with ``held: true``: what the op did besides (registered, created the group, changed
        the other fields of ``update_group``), then the line saying the text waits for review, never
        the held text as if it were applied."""
        op = cmd.op
        if op == "register":
            self.say(f"* registered {params['username']} (user_id {clean(r.get('user_id'))}); "
                     f"now /login {params['username']} PASSWORD")
        elif op == "create_group":
            self.current = clean(r["group_id"]) if r.get("group_id") is not None else None  # (printed as is)
            self.used(self.current)
            self.say(f"* created group {clean(self.current)} (群聊 {clean(self.current)}); it is the current group")
        elif op == "update_group" and len(params) > 2:
            self.say("* group updated")
        self.say(line)

    def show_agreement(self, r: dict[str, Any]) -> None:
        """``/agreement``: the version, whether it is accepted, and both texts, indented line by line;
        the version shown is the one a bare ``/accept`` accepts."""
        version = r.get("version")
        if not isinstance(version, str) or not version:
            self.say("* the platform has published no rules or service agreement: nothing to accept")
            return
        v = clean(version)
        self.agreement_shown = version
        state = "you accepted it" if r.get("accepted") else "not accepted yet"
        self.say(f"* the platform's rules and service agreement, version {v} ({state})")
        for title, key in (("rules", "rules"), ("service agreement", "agreement")):
            self.say(f"  -- {title} --")
            text = str(r.get(key) or "").replace("\r\n", "\n").strip("\n")
            for line in (clean_lines(text) if text else ["(empty)"]):
                self.say(f"    {line}")
        if not r.get("accepted"):
            self.say(f"* /accept {v} accepts them")

    def show_mine(self, op: str, params: dict[str, Any], r: dict[str, Any]) -> None:
        """``/reports`` and ``/appeals``: one line each, newest first, and how to page back."""
        key, id_key, cmd = ("reports", "report_id", "/reports") if op == "my_reports" else (
            "appeals", "appeal_id", "/appeals")
        rows = r.get(key) or []
        if not rows:
            self.say(f"* no {'older ' if 'before' in params else ''}{key}")
            return
        self.say(f"* your {key}: {len(rows)}")
        for x in rows:
            self.say(format_my_report(x, self.names) if key == "reports" else format_my_appeal(x))
        limit = params.get("limit", 20)
        if len(rows) >= limit:
            self.say(f"* older: {cmd} {limit} before {clean(rows[-1].get(id_key))}")

    def show_held_texts(self, params: dict[str, Any], r: dict[str, Any]) -> None:
        """``/held``: one line per text still waiting for review, newest first, and how to page back."""
        rows = r.get("held") or []
        if not rows:
            self.say(f"* nothing {'older ' if 'before' in params else ''}of yours waits for review")
            return
        self.say(f"* waiting for review: {len(rows)} (/withdraw ID takes one back)")
        for x in rows:
            self.say(format_held_text(x))
        limit = params.get("limit", 20)
        if len(rows) >= limit:
            self.say(f"* older: /held {limit} before {clean(rows[-1].get('held_id'))}")

    def show_v2_reply(self, op: str, params: dict[str, Any], r: dict[str, Any], who: str) -> bool:
        """The replies of the v2 ops (richer messages, bans, links, search, log); False for others."""
        gid = params.get("group_id")
        seq = params.get("seq")
        if op == "edit_message":
            self.say(f"* edited #{seq}")
        elif op == "react":
            emoji = format_emoji(params["emoji"])
            self.say(f"* reacted {emoji} to #{seq}" if params["on"] else f"* took back {emoji} on #{seq}")
        elif op == "pin_message":
            self.say(f"* {'pinned' if params['on'] else 'unpinned'} #{seq} in {gid}")
        elif op == "ban":
            secs = params.get("seconds")
            self.say(f"* banned {who} from {gid} " + (f"for {format_duration(secs)}" if secs else "until /unban"))
        elif op == "unban":
            self.say(f"* unbanned {who} in {gid}")
        elif op == "delete_user_messages":
            left = "; older ones are left: /clean again" if r.get("more") else ""
            self.say(f"* deleted {r.get('deleted', 0)} messages of {who} in {gid}{left}")
        elif op == "bans":
            bans = r.get("bans") or []
            self.say(f"* bans in {gid}: {len(bans)}")
            for b in bans:
                self.say(format_ban(b, self.names))
        elif op == "set_slow_mode":
            secs = params["seconds"]
            self.say(f"* slow mode in {gid}: a member may send once per {format_duration(secs)}" if secs
                     else f"* slow mode off in {gid}")
        elif op == "create_invite_link":
            code = clean(r.get("code"))
            limits = []
            if params.get("max_uses"):
                limits.append(f"{params['max_uses']} use{'s' * (params['max_uses'] != 1)}")
            limits.append(f"expires {hhmm(r['expires_at'])}" if r.get("expires_at") else "no expiry")
            if params.get("note"):
                limits.append(f"note: {clean(params['note'])}")
            self.say(f"* invite code for {gid}: {code} ({', '.join(limits)})")
            self.say(f"* to join, type: /join {code}")
        elif op == "revoke_invite_link":
            self.say(f"* revoked invite code {clean(params['code'])}" if "code" in params
                     else f"* revoked invite link {clean(params['link_id'])}")
        elif op == "invite_links":
            links = r.get("links") or []
            self.say(f"* invite links in {gid}: {len(links)}")
            for link in links:
                self.say(format_invite_link(link, self.names))
        elif op == "mark_read":
            self.say(read_line(gid, seq, r.get("read_seq")))
        elif op == "search":
            msgs = r.get("messages") or []
            n = len(msgs)  # (the query as typed, cleaned: not a repr, which doubled every backslash)
            self.say(f"* {n} message{'s' * (n != 1)} in {gid} contain{'s' * (n == 1)} '{clean(params['query'])}'")
            for m in msgs:  # (hits, not a page: they move no read point, and a live message above
                # one of them is still printed when it comes)
                self.names.learn(m.get("sender"))
                self.say(format_message(m, self.names, hl=self.hl, base=self.http_base))
        elif op == "group_log":
            entries = r.get("entries") or []
            users = r.get("users")  # [ext] the names of everyone the page names (those gone too)
            if isinstance(users, dict):
                for uid, name in users.items():
                    self.names.learn({"user_id": uid, "display_name": name})
            self.say(f"* log of {gid}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
            for e in entries:
                self.say(format_log_entry(e, self.names))
            if entries and len(entries) >= params.get("limit", 50):
                self.say(f"* older: /log {params.get('limit', 50)} before {clean(entries[-1].get('id'))}")
        else:
            return False
        return True

    async def run(self, lines: asyncio.Queue[str | None]) -> None:
        self.say(f"qunguan chat - {self.url} - /help for commands, /quit to leave")
        self.say("* not connected yet: the first command that needs the server connects")
        try:
            while True:
                line = await lines.get()
                if line is None or not await self.handle_line(line):
                    break
        finally:
            await self.close()
        if self.unanswered:  # (kept in this process only: say what goes with it)
            self.say(f"* {len(self.unanswered)} message(s) that got no answer were not sent again; see /history "
                     "next time, and type again what is not there")
        self.say("* bye")


def _on_terminal() -> bool:
    try:
        return os.isatty(sys.stdin.fileno()) and os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False


# The commands whose line holds a password, an ID number or a token: masked as typed (and so in the
# scrollback) and kept out of the prompt's history (the Up arrow).
SECRET_COMMANDS = frozenset({"/login", "/register", "/verify", "/deleteaccount", "/auth", "/password"})


def holds_secret(line: str) -> bool:
    """Whether ``line`` is a command that carries a secret (:data:`SECRET_COMMANDS`)."""
    command = command_text(line)  # (as parse_command reads it: " /login", "／login" too)
    words = command.split(maxsplit=1) if command is not None else []
    return bool(words) and words[0].lower() in SECRET_COMMANDS


async def _prompt_lines(queue: asyncio.Queue[str | None]) -> None:
    """Lines typed at a prompt_toolkit prompt into ``queue`` (``None`` on Ctrl-D / Ctrl-C)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.filters import Condition
    from prompt_toolkit.history import InMemoryHistory

    class NoSecrets(InMemoryHistory):
        def append_string(self, string: str) -> None:
            if not holds_secret(string):
                super().append_string(string)

    session: PromptSession[str] = PromptSession(
        history=NoSecrets(), is_password=Condition(lambda: holds_secret(session.default_buffer.text)))
    # what was typed while the client started (its echo wiped): whole lines run, the line begun is
    # the first prompt's text
    *whole, begun = echo.typed_ahead.replace("\r", "\n").split("\n")
    echo.typed_ahead = ""
    for line in whole:
        print("> " + ("*" * len(line) if holds_secret(line) else line))
        queue.put_nowait(line)
    while True:
        try:
            line = await session.prompt_async("> ", default=begun)
            begun = ""
        except (EOFError, KeyboardInterrupt):
            queue.put_nowait(None)
            return
        queue.put_nowait(line)


async def amain_terminal(url: str, encoding: str) -> int:
    """The terminal: prompt_toolkit reads, and everything printed goes above the prompt."""
    from prompt_toolkit.patch_stdout import patch_stdout

    queue: asyncio.Queue[str | None] = asyncio.Queue()
    # raw: our own escape sequences (the mention highlight) reach the terminal; every text from the
    # server is cleaned of control characters before it is printed (render.clean)
    with patch_stdout(raw=True):
        tui = ChatTUI(url, out=sys.stdout, encoding=encoding, hl=ANSI,  # the patched stdout
                      width=lambda: shutil.get_terminal_size().columns)
        # (what is typed before the prompt runs is not echoed: main turned echo off first thing)
        prompt = asyncio.create_task(_prompt_lines(queue))
        try:
            await tui.run(queue)
        finally:
            prompt.cancel()
            await asyncio.gather(prompt, return_exceptions=True)
    return 0


async def amain(url: str, encoding: str) -> int:
    if _on_terminal():
        return await amain_terminal(url, encoding)
    loop = asyncio.get_running_loop()
    reader = LineReader(loop)
    reader.start()
    tui = ChatTUI(url, encoding=encoding)
    try:
        await tui.run(reader.queue)
    finally:
        reader.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    echo_off()  # first thing (python -m client_demo did it before importing this module)
    try:
        return _main(argv)
    finally:
        echo_restore()


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(prog="qunguan-chat", description="Terminal client for a qunguan server.")
    ap.add_argument("--url", default=os.environ.get("QUNGUAN_URL", DEFAULT_URL),
                    help=f"server WebSocket URL (default {DEFAULT_URL}, or env QUNGUAN_URL)")
    ap.add_argument("--json", action="store_true", help="use the JSON subprotocol instead of MessagePack")
    args = ap.parse_args(argv)
    try:
        code = asyncio.run(amain(args.url, "json" if args.json else "msgpack"))
    except KeyboardInterrupt:
        code = 130
    # A thread blocked reading a terminal must not hold up (or crash) interpreter exit.
    if any(t.name == "stdin" and t.is_alive() for t in threading.enumerate()):
        echo_restore()
        sys.stdout.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
