"""The files of exported messages and posts, for ``qunguan admin export`` (server/operator/export.py).

When the exported messages or posts carry attachments, the export gets

  media.jsonl   one line per media row: media_id, sha256, received_sha256 (the
                bytes as sent, when the file stored differs: a picture without its
                metadata; else null), mime, kind, size, name,
                width, height, uploader, created_at (+ ``_iso``), ``file`` (its path
                in the export), ``messages``: the [group_id, seq] of the exported
                messages carrying it, and ``posts``: the [account_id, post_id] of the
                exported posts (each only when there are some)
  media/<sha256>  each distinct file once, mode 0600

and ``manifest.json`` lists every copied file under ``media`` with the SHA-256 of
the bytes actually copied (computed while copying), so a recipient checks them
like the other files. A file missing from the server's folder is listed with
``missing: true`` instead of failing the export.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from server.media.index import MediaIndex
from server.media.uploads import media_file
from server.operator.outdir import OutDir

FOLDER = "media"
_COPY_CHUNK = 1 << 20


Carried = tuple[dict[str, list[list[Any]]], dict[str, list[list[Any]]]]


def carried_by(messages: Iterable[dict[str, Any]], posts: Iterable[dict[str, Any]] = ()) -> Carried:
    """The media ids the attachments of ``messages`` and ``posts`` name (exported rows: ``attachments``
    is a list of attachment objects, or the JSON text of one), each with the messages
    (``[group_id, seq]``) and the posts (``[account_id, post_id]``) that carry it: a group and an
    account may have the same number, so one list could not tell them apart. Reads the rows alone
    (a worker thread may run it: a million messages take a while)."""
    return (_carried(messages, lambda m: [m["group_id"], m["seq"]]),
            _carried(posts, lambda p: [p["account_id"], p["post_id"]]))


def media_rows(index: MediaIndex, carriers: Carried) -> list[dict[str, Any]]:
    """The media rows of what :func:`carried_by` found, each saying what carries it."""
    carried, on_posts = carriers
    rows = []
    for media_id in sorted(carried.keys() | on_posts.keys()):
        where: dict[str, Any] = {}
        if media_id in carried:
            where["messages"] = carried[media_id]
        if media_id in on_posts:
            where["posts"] = on_posts[media_id]
        e = index.get(media_id)
        if e is None:  # removed already: the message row still names it
            rows.append({"media_id": media_id, "missing": True, **where})
            continue
        rows.append({"media_id": media_id, "sha256": e.sha256, "received_sha256": e.received, "mime": e.mime,
                     "kind": e.kind, "size": e.size, "name": e.name, "width": e.width, "height": e.height,
                     "uploader": e.uploader, "created_at": e.created_at, "file": f"{FOLDER}/{e.sha256}", **where})
    return rows


def _carried(items: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], list[Any]]) -> dict[str, list[list[Any]]]:
    carried: dict[str, list[list[Any]]] = {}
    for m in items:
        attached = m.get("attachments")
        if isinstance(attached, str):
            try:
                attached = json.loads(attached)
            except ValueError:
                continue
        for item in attached if isinstance(attached, list) else ():
            if isinstance(item, dict) and isinstance(item.get("media_id"), str):
                carried.setdefault(item["media_id"], []).append(key(m))
    return carried


def copy_files(root: Path, out: OutDir, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copy each distinct file of ``rows`` into ``out``'s ``media/``; the manifest's ``media`` entries."""
    entries: list[dict[str, Any]] = []
    shas = sorted({r["sha256"] for r in rows if "sha256" in r})
    if not shas:
        return entries
    folder = out.folder(FOLDER)
    for sha in shas:
        name = f"{FOLDER}/{sha}"
        try:
            src = open(media_file(root, sha), "rb")  # noqa: SIM115 (closed below, with the copy)
        except FileNotFoundError:
            entries.append({"name": name, "missing": True})
            continue
        digest, size = hashlib.sha256(), 0
        with src, os.fdopen(folder.create(sha), "wb") as dst:
            while chunk := src.read(_COPY_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        entries.append({"name": name, "sha256": digest.hexdigest(), "bytes": size})
    return entries
