"""Files the platform takes down (G10: illegal content is removed and kept from spreading again).

``remove-message`` and ``remove-post`` take down the files what they remove carries, unless told
``--keep-files`` (a picture that was not the problem: the text was): each file by its SHA-256, in the
removal's own transaction (:class:`TakeDownFiles`). A file taken down is refused when uploaded or
attached again (``content_blocked``, as a ``block`` list's file) and served nowhere, whichever message
or post carries it, until ``release-file`` lets it go. ``take-down-file`` takes down one file by its
digest (one a review item's message carried, one seen elsewhere). The digests are kept in memory
(``State.taken_down``), read at every start, and by the store for the gateways' downloads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from server.media.uploads import is_sha256
from server.operator.channel import OperatorError, Result, command
from server.operator.common import apply, audit, operator_name, reason_of
from server.storage.changes import Change, ReleaseFile, TakeDownFiles

if TYPE_CHECKING:
    from server.context import Context

_LOCKS: dict[object, asyncio.Lock] = {}


def files_lock(app: Context, wanted: bool = True) -> contextlib.AbstractAsyncContextManager[Any]:
    """What takes files down or lets them go, one at a time (a server's): from the claim in memory to
    the write's outcome. A release and a removal's take-down of one file overlapping left it allowed in
    memory and taken down in the database; so did a removal refused beside another of the same file.
    (Nothing to wait for unless ``wanted``: a removal that takes no file down.)"""
    if not wanted:
        return contextlib.nullcontext()
    return _LOCKS.setdefault(app, asyncio.Lock())


async def files_to_take_down(app: Context, args: dict[str, Any], group_id: str | None = None,
                             seq: int | None = None, post_id: int | None = None) -> list[str]:
    """The digests of the files the message or post a removal takes down carries (none with
    ``--keep-files``), read before its write: its record entry names them (``files_taken_down``). What
    a message or post carries never changes once it is stored."""
    if args.get("keep_files"):
        return []
    return await app.store.files_of(group_id, seq, post_id)


def take_down(app: Context, digests: list[str], cause: str) -> tuple[list[Change], Callable[[], None]]:
    """The change taking ``digests`` down, for the removal's own transaction, and what takes the claim
    back should that write be refused: they are refused in memory from now on (a restriction is
    claimed at once; no await may come between this and the write)."""
    if not digests:
        return [], lambda: None
    claimed = [d for d in digests if d not in app.state.taken_down]
    app.state.taken_down.update(claimed)

    def undo() -> None:
        app.state.taken_down.difference_update(claimed)

    return [TakeDownFiles(tuple(digests), app.now_ms(), operator_name(), cause)], undo


def said(digests: list[str]) -> list[str]:
    """The lines of a removal's output about the files it took down."""
    return [f"took down its file {d} (release-file {d} lets it go)" for d in digests]


def _digest(args: dict[str, Any]) -> str:
    digest = str(args.get("sha256") or "").strip().lower()
    if not is_sha256(digest):
        raise OperatorError("SHA256 must be a file's SHA-256 in hex (64 hex digits)")
    return digest


@command("take-down-file")
async def take_down_file(app: Context, args: dict[str, Any]) -> Result:
    """Take down one file by its digest: refused when uploaded or attached, served nowhere."""
    digest, reason = _digest(args), reason_of(args)
    stored = await app.store.file_stored(digest)
    async with files_lock(app):
        if digest in app.state.taken_down:
            raise OperatorError(f"file {digest} is taken down already")
        changes, undo = take_down(app, [digest], "take-down-file")
        await apply(app, *changes, audit=audit(app, "take_down_file", reason, sha256=digest), undo=undo)
    lines = [f"took down file {digest}: refused when uploaded or attached, served nowhere"]
    if not stored:
        lines.append("no stored file has this digest, as stored or as sent: uploads of it are refused; a picture "
                     "uploaded before this version kept no digest of the bytes sent, so its stored copy (without "
                     "its metadata, under another digest) is found only by the stored file's: take down the one "
                     "a removal printed, or the one media.jsonl of an export holds")
    return Result(lines)


@command("release-file")
async def release_file(app: Context, args: dict[str, Any]) -> Result:
    """Let a file taken down go: it may be uploaded, attached and served again."""
    digest, reason = _digest(args), reason_of(args)
    async with files_lock(app):
        if digest not in app.state.taken_down:
            raise OperatorError(f"file {digest} is not taken down")
        (released,) = await apply(app, ReleaseFile(digest), audit=audit(app, "release_file", reason, sha256=digest))
        if released:  # (once stored: until then it is still refused)
            app.state.taken_down.discard(digest)
    return Result([f"released file {digest}: it may be uploaded, attached and served again"])
