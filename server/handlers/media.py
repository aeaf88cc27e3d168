"""Media ops: ``upload_begin``, ``upload_chunk``, ``upload_end``, [ext] ``delete_upload``, ``media_url``;
and what ``send`` and ``publish`` call to attach uploads (:func:`attachments_for`) and to show them
(:func:`signed_url`).

An upload is one user's (another user's ``upload_id`` is ``not_found``, like an
unknown one) and lives in memory until ``upload_end`` or until it sits idle for
``UPLOAD_IDLE_MS``; a restart forgets unfinished uploads. Chunks go straight to
a temp file and an incremental SHA-256 (server/media/uploads.py), so memory
stays flat whatever the size. ``upload_end`` checks, in this order: every
declared byte arrived (``bad_request``), the SHA-256 (``bad_request``), the
magic numbers of the declared type and, for images, a readable width and
height (``bad_request``); then an image's metadata is removed (EXIF with its GPS
position, XMP, IPTC: server/media/strip.py; ``bad_request`` when its structure cannot
be walked) and what is stored, its SHA-256 and size, is the stripped file; the
known-file lists, for the digest of the bytes received and of the file stored
(``content_blocked`` on a ``block`` list), and last the uploader's storage quota, ``media.max_bytes_per_user``
(``storage_quota_reached``), which the store decides from the uploader's media rows
as it inserts the new one, counting each distinct file they keep in use once
(server/storage/media.py: ``QUOTA_USE``), so the same bytes again add nothing
(``upload_begin`` refuses a file that would not fit before any byte is sent,
counting the user's unfinished uploads too; a ``sha256`` declared there tells it
the content in advance, and ``upload_end`` holds the bytes to it). Any of these
ends the upload; the client starts again.

Known-file lists: a ``block`` match is refused, written to the enforcement record
(``content_blocked``, with the digest) and costs credit like a blocked message; a
``review`` or ``flag`` match is accepted and written to the record
(``media_listed``: digest, list category and action, media id) in the same
transaction as the media row, for the operators to follow up.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import unicodedata
from typing import TYPE_CHECKING, Any

from governance.content import Action
from protocol import events as ev
from protocol.errors import ContractError, shown, shown_id
from server.handlers import handler, screening
from server.handlers.common import commit, live_group, member_of, record_penalized, still_active, still_reader
from server.media import sniff, strip
from server.media.cleanup import ATTACH_GRACE_MS
from server.media.index import MediaEntry
from server.media.lists import Listed
from server.media.service import MAX_OPEN_UPLOADS, MediaService, chunk_bytes, group_carrier
from server.media.uploads import Upload, inspect, is_sha256, media_file, place
from server.storage import changes as ch

if TYPE_CHECKING:
    from governance.content import Verdict
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.config import MediaConfig
    from server.context import Context
    from server.session import Session
    from server.state import User

log = logging.getLogger("qunguan.media")

TAKEN_DOWN = Listed("taken_down", Action.BLOCK)  # a file the platform took down (server/operator/files.py)
MAX_NAME_CHARS = 255


# -- the interface of send and publish -------------------------------------------------------
def attachments_for(ctx: Context, user: User, media_ids: list[str]) -> list[ev.AttachmentObj]:
    """The attachment objects (without ``url``) for ``media_ids``, each a finished upload of ``user``'s;
    ``bad_request`` naming the first that is not, ``content_blocked`` one whose file a ``block`` list
    names now, or whose name the word lists now refuse (added since the upload). Synchronous, from
    memory: the caller marks them with :func:`mark_attached` once the message or post is accepted,
    with no await since this check.
    """
    index = ctx.state.media
    entries = []
    for media_id in media_ids:
        e = index.get(media_id)
        if e is None or e.uploader != user.user_id or e.removing:
            raise ContractError("bad_request", f"{shown_id(media_id)} is not a finished upload of yours")
        if any(d in ctx.state.taken_down for d in e.digests):  # (server/operator/files.py; either digest)
            raise ContractError("content_blocked", f"{media_id} is a file the platform took down")
        _, listed = ctx.media.lists.most_severe(*e.digests)
        if listed is not None and listed.action is Action.BLOCK:  # put on a list since it was uploaded
            raise ContractError("content_blocked", f"{media_id} is on a list of prohibited files ({listed.category})")
        # Its name, shown with every message or post carrying it, screened again as at upload_begin (a
        # name that cannot be held, so a review hit is refused too): its words may have been listed
        # since. Not charged: the uploader writes nothing new (as a restated announcement).
        said = ctx.content.check(e.name) if e.name is not None else None
        if said is not None and said.action in (Action.BLOCK, Action.REVIEW):
            raise ContractError("content_blocked", f"the file name of {media_id} is not allowed ({said.category})")
        entries.append(e)
    return [ev.AttachmentObj(media_id=e.media_id, kind=e.kind, mime=e.mime,  # type: ignore[arg-type]
                             size=e.size, name=e.name, width=e.width, height=e.height) for e in entries]


def mark_attached(ctx: Context, attachments: list[ev.AttachmentObj], now: int) -> None:
    """Mark the uploads of an accepted message or post as attached, in the same step as
    :func:`attachments_for`'s check and after every refusal (a send or publish refused marks
    nothing): the cleanup leaves them alone, and ``delete_upload`` refuses them, while what
    carries them is on its way to the store."""
    index = ctx.state.media
    for a in attachments:
        e = index.get(a.media_id)
        if e is not None:
            e.last_used, e.attached = now, True


def signed_url(ctx: Context, media_id: str, carrier: str) -> str:
    """A fresh ``/media/{media_id}?e=..&c=..&s=..`` path, valid for ``media.url_ttl_seconds``, for the
    file as ``carrier`` shows it (``g<group id>``: the group's messages; ``p<post id>``: the post): it
    stops serving once nothing there shows the file, though the same file is still shown elsewhere
    (a photo sent to the wrong group too, and recalled there)."""
    return ctx.media.url(media_id, ctx.now_ms(), ctx.cfg.media.url_ttl_seconds, carrier)


# -- uploads ----------------------------------------------------------------------------------
def _name(ctx: Context, user: User, raw: str | None) -> tuple[str | None, Verdict | None]:
    """The file name others will see: plain text, no folders, screened like any shown text (a
    ``block`` hit recorded as ``file_name`` and charged to ``user``); with it, a ``flag`` hit, recorded
    once the upload is stored (:func:`screening.record_flagged`)."""
    if raw is None or not raw.strip():
        return None, None
    name = raw.strip()
    if len(name) > MAX_NAME_CHARS:
        raise ContractError("too_large", f"name is longer than {MAX_NAME_CHARS} characters", field="name",
                            max_chars=MAX_NAME_CHARS)
    # (isprintable() alone refused every space but ASCII's: U+3000, common in Chinese names, too)
    if any(c in "/\\" or not (c.isprintable() or unicodedata.category(c) == "Zs") for c in name):
        raise ContractError("bad_request", "name must be a file name: no folders, no control characters")
    return name, screening.passed(ctx, user, name, "name", "file_name")


def _declared_sha256(raw: str | None) -> str | None:
    """[ext] ``upload_begin``'s ``sha256``: the file's digest declared in advance, or None."""
    if raw is None:
        return None
    digest = raw.strip().lower()
    if not is_sha256(digest):
        raise ContractError("bad_request", "sha256 must be 64 hex digits")
    return digest


def _own_upload(ctx: Context, user: User, upload_id: str) -> Upload:
    up = ctx.media.uploads.get(upload_id)
    if up is None or up.user_id != user.user_id:
        raise ContractError("not_found", f"no upload {shown_id(upload_id)} of yours in progress")
    return up


def _check_open_uploads(svc: MediaService, user_id: str, now_ms: int) -> None:
    """``rate_limited`` for a user with :data:`MAX_OPEN_UPLOADS` unfinished uploads, unless one of
    them has had no chunk for a minute: that one is dropped to make way (as the idle sweep drops it
    later), its temp file with it."""
    if svc.open_uploads(user_id) < MAX_OPEN_UPLOADS:
        return
    stale = svc.stale_upload(user_id, now_ms)
    if stale is None:
        raise ContractError("rate_limited", f"at most {MAX_OPEN_UPLOADS} unfinished uploads at once",
                            retry_after_ms=1000)
    svc.drop_upload(stale)
    if not stale.lock.locked():  # a write in flight closes nothing; the temp sweep gets its file later
        stale.discard()


def _check_file(cfg: MediaConfig, size: int, mime: str) -> None:
    """``too_large`` past ``media.max_bytes``, ``bad_request`` for a type not in ``media.allowed_types``."""
    if size > cfg.max_bytes:
        raise ContractError("too_large", f"files may have at most {cfg.max_bytes} bytes", max_bytes=cfg.max_bytes)
    if mime not in cfg.allowed_types:
        raise ContractError("bad_request", f"'{shown(mime)}' is not an allowed type ({', '.join(cfg.allowed_types)})")


@handler("upload_begin")
async def upload_begin(ctx: Context, sess: Session, req: rq.UploadBegin, enc: Encoding) -> dict[str, Any]:
    user = sess.me
    cfg = ctx.cfg.media
    mime = req.mime.strip().lower()
    if req.size < 1:
        raise ContractError("bad_request", "size must be at least 1 byte")
    _check_file(cfg, req.size, mime)
    declared = _declared_sha256(req.sha256)
    svc = ctx.media
    # The counted bytes are read first; everything after that read is checked and claimed in one
    # step (no await), so of two uploads begun at once the second counts the first. upload_end's
    # InsertMedia decides the quota again, for good, from the rows.
    quota = ch.MediaQuota(cfg.max_bytes_per_user) if cfg.max_bytes_per_user else None
    _check_open_uploads(svc, user.user_id, ctx.now_ms())  # before the read too: a refused begin costs no query
    kept = False
    if quota is not None:
        stored, kept = await ctx.store.media_quota_use(user.user_id, declared)
        still_active(user)
        # A reload may have landed during the read: what follows is decided by the settings now.
        cfg = ctx.cfg.media
        _check_file(cfg, req.size, mime)
        quota = ch.MediaQuota(cfg.max_bytes_per_user) if cfg.max_bytes_per_user else None
        _check_open_uploads(svc, user.user_id, ctx.now_ms())  # (again: others may have begun during the read)
        # Declared content the user keeps already, or is uploading already, adds nothing (the
        # store checks the digest of the bytes received against what it counts at upload_end).
        adds = 0 if kept or (declared is not None and svc.pending_content(user.user_id, declared)) else req.size
        if quota is not None:
            quota.refuse(stored + svc.pending_bytes(user.user_id), adds)
    svc.per_hour.limit = cfg.uploads_per_hour  # follows SIGHUP
    wait = svc.per_hour.hit(user.user_id, time.monotonic())
    if wait > 0:
        raise ContractError("rate_limited", "too many uploads this hour", retry_after_ms=int(wait * 1000) + 1)
    # The name screened last, once the hour has counted this begin: a blocked name writes a penalty and
    # a record entry, and so is held to the uploads a user may begin, as a file that goes through is.
    name, flag = _name(ctx, user, req.name)
    now = ctx.now_ms()
    upload_id = secrets.token_urlsafe(18)
    up = Upload(cfg.path, upload_id, user.user_id, mime, req.size, name, now, declared)
    up.name_flag = flag
    up.kept_already = kept
    svc.add_upload(up)  # claimed: counts against MAX_OPEN_UPLOADS from now on
    try:
        await asyncio.to_thread(up.open)
    except OSError as err:
        ctx.media.drop_upload(up)
        log.error("cannot create the temp file of an upload in %s: %s", up.path.parent, err)
        raise ContractError("internal", "the server cannot store uploads right now") from None
    return {"upload_id": upload_id, "chunk_bytes": chunk_bytes(ctx.cfg.server.max_frame_bytes)}


@handler("upload_chunk")
async def upload_chunk(ctx: Context, sess: Session, req: rq.UploadChunk, enc: Encoding) -> dict[str, Any]:
    up = _own_upload(ctx, sess.me, req.upload_id)
    if up.finishing:
        raise ContractError("bad_request", "the upload is being finished; it takes no more chunks")
    n = len(req.data)
    if n == 0:
        raise ContractError("bad_request", "data is empty")
    if req.offset != up.received:
        raise ContractError("bad_request", f"offset must be {up.received} (the bytes received so far)")
    if up.received + n > up.size:
        raise ContractError("too_large", f"the upload was declared as {up.size} bytes; this chunk goes past that")
    # Claimed with no await since the checks; the lock is taken in the same step, so chunks
    # are written in the order they were accepted.
    up.received += n
    up.touched_ms = ctx.now_ms()
    received = up.received
    async with up.lock:
        if up.broken:
            raise ContractError("internal", "an earlier chunk of this upload could not be stored; start again")
        try:
            await asyncio.to_thread(up.write, req.data)
        except BaseException as err:
            up.broken = True
            ctx.media.drop_upload(up)
            if isinstance(err, OSError):
                log.error("an upload chunk could not be written to %s: %s", up.path, err)
                # The write's thread has returned (it raised), so nothing writes the file any more: it
                # goes now. Left to the stray-file sweep, a partial file on a full disk kept every
                # other write of the server failing for up to 20 minutes.
                await asyncio.to_thread(up.discard)
                raise ContractError("internal", "the chunk could not be stored; start the upload again") from None
            raise  # (cancelled: a write may still be running; its temp file is left to the stray-file sweep)
    return {"received": received}


@handler("upload_end")
async def upload_end(ctx: Context, sess: Session, req: rq.UploadEnd, enc: Encoding) -> dict[str, Any]:
    user = sess.me
    up = _own_upload(ctx, user, req.upload_id)
    if up.finishing:
        raise ContractError("bad_request", "the upload is being finished already")
    if up.received != up.size:
        raise ContractError("bad_request", f"received {up.received} of the {up.size} bytes declared")
    want = req.sha256.strip().lower()
    if not is_sha256(want):
        raise ContractError("bad_request", "sha256 must be 64 hex digits")
    up.finishing = True  # claimed: no more chunks, no second upload_end
    try:
        return await _finish(ctx, user, up, want)
    finally:
        ctx.media.drop_upload(up)
        await asyncio.to_thread(up.discard)


async def _finish(ctx: Context, user: User, up: Upload, want: str) -> dict[str, Any]:
    async with up.lock:  # every accepted chunk is written before this
        if up.broken:
            raise ContractError("internal", "a chunk of this upload could not be stored; start again")
        digest = await asyncio.to_thread(up.finish)
    if digest != want:
        raise ContractError("bad_request", "sha256 does not match the bytes received")
    if up.sha256 is not None and digest != up.sha256:
        raise ContractError("bad_request", "the bytes received are not those whose sha256 upload_begin declared")
    magic_ok, dims = await asyncio.to_thread(inspect, up.path, up.mime)
    if not magic_ok:
        raise ContractError("bad_request", f"the bytes are not {up.mime} (their magic numbers say otherwise)")
    kind = sniff.kind_of(up.mime)
    if kind == "image" and dims is None:
        raise ContractError("bad_request", f"the image's width and height cannot be read from its {up.mime} header "
                                           f"(or one is over {sniff.MAX_SIDE:,} pixels)")
    received = digest
    digest, size = await _stripped(up, digest)  # what is stored: the image without its metadata
    still_active(user)  # (the checks awaited: an account closed or cancelled meanwhile stores nothing)
    now = ctx.now_ms()
    taken = next((d for d in (digest, received) if d in ctx.state.taken_down), None)
    if taken is not None:  # (as a block list's file: recorded, and it costs credit)
        _record_blocked(ctx, user, taken, TAKEN_DOWN, now)
        raise ContractError("content_blocked", "this file was taken down by the platform")
    # Both digests: a list names a file as it circulates (with its metadata), or as it is stored here.
    matched, listed = ctx.media.lists.most_severe(received, digest)
    if listed is not None and listed.action is Action.BLOCK:
        _record_blocked(ctx, user, matched, listed, now)
        raise ContractError("content_blocked", f"this file is on a list of prohibited files ({listed.category})")
    index = ctx.state.media
    root = ctx.cfg.media.path
    media_id = secrets.token_urlsafe(16)
    width, height = dims if dims is not None else (None, None)
    sent = received if received != digest else None  # (kept: a list may name the photo as it circulates)
    entry = MediaEntry(media_id, digest, user.user_id, up.mime, kind, size, up.name, width, height, now,
                       received=sent)
    index.claim_placing(digest)  # the cleanup keeps a file with this digest while it is being placed
    try:
        await asyncio.to_thread(place, up.path, media_file(root, digest))
        # (again after the move's await: an account closed or cancelled meanwhile stores no row; the
        # file placed, which no row names, goes with the cleanup's orphan sweep)
        still_active(user)
        index.add(entry)  # the row's claim, in the same step as releasing the placing one
    finally:
        index.release_placing(digest)

    def undo() -> None:
        # The file stays: whatever made the write fail (the fence, or a home that lost the database),
        # a row this node's index never saw may name it (the same bytes stored by the node that
        # took over). The cleanup's orphan sweep removes it once no row names it and it is older
        # than its grace (server/media/cleanup.py: sweep_orphans).
        index.remove(media_id)

    audit = None
    if listed is not None:
        detail: dict[str, Any] = {"sha256": matched, "media_id": media_id, "action": listed.action.value}
        if matched != digest:
            detail["stored_sha256"] = digest
        audit = ch.Audit(now, "system", None, "media_listed", None, user.user_id, listed.category, detail)
    limit = ctx.cfg.media.max_bytes_per_user  # (as it is now: a reload since upload_begin applies)
    await commit(ctx, ch.InsertMedia(media_id, digest, user.user_id, up.mime, kind, size, up.name,
                                     width, height, now, ch.MediaQuota(limit) if limit else None, sent),
                 audit=audit, undo=undo)
    screening.record_flagged(ctx, user, up.name_flag, "file_name")
    # Describes the stored file: an image's metadata removed, its size and SHA-256 may be the
    # upload's less (the digest a client sent to upload_end is of the bytes it sent).
    reply: dict[str, Any] = {"media_id": media_id, "kind": kind, "mime": up.mime, "size": size, "sha256": digest}
    if up.name is not None:
        reply["name"] = up.name
    if dims is not None:
        reply["width"], reply["height"] = dims
    return reply


async def _stripped(up: Upload, digest: str) -> tuple[str, int]:
    """The SHA-256 and size of the file to store: an image's metadata (EXIF and its GPS position, XMP,
    IPTC) removed from the temp file in place (server/media/strip.py), other files as received.
    ``bad_request`` for an image whose structure cannot be walked: it is not stored with metadata
    nothing could find."""
    if not strip.strips(up.mime):
        return digest, up.size
    try:
        out = await asyncio.to_thread(strip.strip_file, up.path, up.mime)
    except strip.Malformed as err:
        raise ContractError("bad_request", f"the {up.mime} file's structure cannot be read ({err})") from None
    except OSError as err:
        log.error("the metadata of an upload could not be removed in %s: %s", up.path.parent, err)
        raise ContractError("internal", "the server cannot store uploads right now") from None
    return out if out is not None else (digest, up.size)


def _record_blocked(ctx: Context, user: User, digest: str, listed: Listed, now: int) -> None:
    """A blocked file costs credit (Art. 7) and is written to the record (its digest; the bytes are not kept)."""
    penalty = ctx.cfg.credit.penalty_blocked_content
    record_penalized(ctx, user, penalty, ch.Audit(
        now, "system", None, "content_blocked", None, user.user_id, listed.category,
        {"sha256": digest, "penalty": penalty, "media": True},
    ), "a blocked upload", f"a file you uploaded is on a list of prohibited files ({listed.category})")


# -- removing one's own upload -------------------------------------------------------------------
@handler("delete_upload")
async def delete_upload(ctx: Context, sess: Session, req: rq.DeleteUpload, enc: Encoding) -> None:
    """[ext] Remove one's own upload that no message and no post carries: its row goes at once (and with
    it what it counted against ``media.max_bytes_per_user``), its file with the orphan sweep once no
    row names it. What something carried stays for the record with what carried it (``conflict``):
    it stops counting once all of that is deleted.

    The same claim as the cleanup's (server/media/cleanup.py): refused while it was attached lately
    (a message or post naming it may still be on its way to the store), marked ``removing`` in the
    same step as the checks (attaching it is refused from then on) until the delete, which re-checks
    in its transaction that nothing carries the row, is done."""
    user = sess.me
    index = ctx.state.media
    e = index.get(req.media_id)
    if e is None or e.uploader != user.user_id:
        raise ContractError("not_found", f"no upload {shown_id(req.media_id)} of yours")
    if e.removing:
        raise ContractError("conflict", f"{req.media_id} is being removed already")
    if e.attached and ctx.now_ms() - e.last_used < ATTACH_GRACE_MS:
        raise ContractError("conflict", f"{req.media_id} was attached to a message or post: delete that instead")
    e.removing = True
    media_id = e.media_id

    def done(f: asyncio.Future[list[Any]]) -> None:
        # When the write is done (not when this handler stops waiting: a cancelled wait leaves the
        # write running, and the mark must hold until it has decided).
        e.removing = False
        if not f.cancelled() and f.exception() is None and media_id in f.result()[0]:
            index.remove(media_id)

    write = ctx.store.apply(ch.DeleteMedia((media_id,)))
    write.add_done_callback(done)
    (removed,) = await asyncio.shield(write)
    if media_id not in removed:
        raise ContractError("conflict", f"a message or post carries {media_id} (deleted ones are kept for the "
                                        "record): it no longer counts against your storage once they are deleted")


# -- showing media again ------------------------------------------------------------------------
@handler("media_url")
async def media_url(ctx: Context, sess: Session, req: rq.MediaUrl, enc: Encoding) -> dict[str, Any]:
    """A fresh signed URL for a file of a message the caller may see (the ``history`` rules: a
    member, a message after they joined, delivered and not deleted); ``not_found`` otherwise."""
    user = sess.me
    g = live_group(ctx, req.group_id)
    m = member_of(g, user)
    if not m.joined_seq < req.seq <= g.last_seq:
        raise ContractError("not_found", f"no message {req.seq} you can see in group {g.group_id}")
    if "\x00" in req.media_id:  # no media id has one (and the store cannot look it up): none carried
        raise ContractError("not_found", f"message {req.seq} carries no such media")
    if not await ctx.store.media_in_message(g.group_id, req.seq, req.media_id):
        raise ContractError("not_found", f"message {req.seq} carries no media {shown_id(req.media_id)}")
    # The read awaited: check again that the caller may still read the group, and may still see that
    # message (a member who left and came back sees only what came after their new join point).
    m = still_reader(ctx, sess, req.group_id)
    if req.seq <= m.joined_seq:
        raise ContractError("not_found", f"no message {req.seq} you can see in group {g.group_id}")
    return {"url": signed_url(ctx, req.media_id, group_carrier(g.group_id))}
