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

import re
from typing import TYPE_CHECKING, Any

from server.operator.channel import OperatorError, Result, command
from server.operator.common import apply, audit, operator_name, reason_of
from server.storage.changes import ReleaseFile, TakeDownFiles

if TYPE_CHECKING:
    from server.context import Context

_SHA256 = re.compile(r"[0-9a-f]{64}")


def files_of(args: dict[str, Any], cause: str, now: int, group_id: str | None = None, seq: int | None = None,
             post_id: int | None = None) -> list[TakeDownFiles]:
    """The change that takes down the files of the message or post a removal takes down (empty with
    ``--keep-files``), for the removal's own transaction."""
    if args.get("keep_files"):
        return []
    return [TakeDownFiles(group_id, seq, post_id, now, operator_name(), cause)]


def taken_down(app: Context, digests: list[str]) -> list[str]:
    """Once the removal is stored: its files refused from now on (no await since the write); the lines
    that say so."""
    app.state.taken_down.update(digests)
    return [f"took down its file {d} (release-file {d} lets it go)" for d in digests]


def _digest(args: dict[str, Any]) -> str:
    digest = str(args.get("sha256") or "").strip().lower()
    if not _SHA256.fullmatch(digest):
        raise OperatorError("SHA256 must be a file's SHA-256 in hex (64 hex digits)")
    return digest


@command("take-down-file")
async def take_down_file(app: Context, args: dict[str, Any]) -> Result:
    """Take down one file by its digest: refused when uploaded or attached, served nowhere."""
    digest, reason = _digest(args), reason_of(args)
    if digest in app.state.taken_down:
        raise OperatorError(f"file {digest} is taken down already")
    now = app.now_ms()
    app.state.taken_down.add(digest)  # (claimed at once: a restriction; a refused write takes it back)

    def undo() -> None:
        app.state.taken_down.discard(digest)

    await apply(app, TakeDownFiles(None, None, None, now, operator_name(), "take-down-file", digest),
                audit=audit(app, "take_down_file", reason, sha256=digest), undo=undo)
    return Result([f"took down file {digest}: refused when uploaded or attached, served nowhere"])


@command("release-file")
async def release_file(app: Context, args: dict[str, Any]) -> Result:
    """Let a file taken down go: it may be uploaded, attached and served again."""
    digest, reason = _digest(args), reason_of(args)
    if digest not in app.state.taken_down:
        raise OperatorError(f"file {digest} is not taken down")
    (released,) = await apply(app, ReleaseFile(digest), audit=audit(app, "release_file", reason, sha256=digest))
    if released:  # (once stored: until then it is still refused)
        app.state.taken_down.discard(digest)
    return Result([f"released file {digest}: it may be uploaded, attached and served again"])
