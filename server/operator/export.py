"""Supervision export (G13): a group's or a user's records over a time range, verifiable.

``qunguan admin export (--group GID | --user USERNAME) [--since ISO] [--until ISO] --out DIR``
makes the server write, into a new (or empty) folder DIR:

  messages.jsonl    every stored message of the target in the range, deleted
                    ones included (``deleted: true``, text kept) and held ones
                    (``held``: 0 delivered, 1 held for review, 2 rejected)
  membership.jsonl  membership changes (joins, leaves, kicks, ...)
  netlog.jsonl      network logs: for a user, theirs (and their phone's code
                    requests, matched by its keyed hash); for a group, those of
                    every user who posted or whose membership changed in the
                    range, or who is a member now
  audit.jsonl       the enforcement-record entries about the target, with
                    their hash-chain fields (``verify-audit`` checks the chain)
  group.json        (group exports) the group's row
  identity.json     (user exports) the account and its identity: phone, legal
                    name and ID number, decrypted here and only here
  manifest.json     the query (target, since, until), when it was generated,
                    and for each file above its SHA-256, line count and size

One JSON object per line, UTF-8, keys sorted; times are epoch milliseconds
with an ISO 8601 twin in platform time (UTC+8). The range is ``since <= ts <
until``; without ``--until`` it ends when the export is generated. Files are
created mode 0600 (they hold personal data), the folder 0700. Each export is
written to the enforcement record (action ``export``) with the manifest's
SHA-256, so a copy handed over can be matched to the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.identity import username_key
from server import record
from server.operator.channel import OperatorError
from server.operator.common import OPERATOR, apply, operator_name
from server.storage.changes import Audit

if TYPE_CHECKING:
    from server.context import Context

FORMAT = "qunguan-export/1"
PLATFORM_TZ = dt.timezone(dt.timedelta(hours=8))
_MIN_TS = -(2**62)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, PLATFORM_TZ).isoformat(timespec="milliseconds")


def _with_times(items: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    for item in items:
        for k in keys:
            if k in item:
                item[k + "_iso"] = iso(item[k])
    return items


def _prepare_out(out: str) -> Path:
    path = Path(out)
    if not path.is_absolute():
        raise OperatorError("--out must be an absolute path (qunguan admin makes it one)")
    if path.exists():
        if not path.is_dir():
            raise OperatorError(f"--out {path} exists and is not a folder")
        if any(path.iterdir()):
            raise OperatorError(f"--out {path} is not empty; exports go to a new or empty folder")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise OperatorError(f"cannot create --out {path}: {err.strerror or err}") from None
    return path


def _write_files(out: Path, files: dict[str, list[dict[str, Any]] | dict[str, Any]]) -> list[dict[str, Any]]:
    """Write each file (a list: JSON lines; a dict: one JSON line); return the manifest entries."""
    entries = []
    for name, content in files.items():
        objs = content if isinstance(content, list) else [content]
        data = "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n" for o in objs).encode()
        fd = os.open(out / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        entries.append({"name": name, "sha256": hashlib.sha256(data).hexdigest(), "lines": len(objs),
                        "bytes": len(data)})
    return entries


def _write_manifest(out: Path, manifest: dict[str, Any]) -> str:
    data = (json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()
    fd = os.open(out / "manifest.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(data).hexdigest()


def _decode_detail(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in items:
        with contextlib.suppress(ValueError):
            item["detail"] = json.loads(item["detail"]) if item.get("detail") else {}
    return items


def _messages(app: Context, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    users = app.state.users
    for m in rows:
        m["deleted"] = m["deleted_at"] is not None
        sender = users.get(m["sender_id"])
        m["sender_username"] = sender.username if sender else None
    return _with_times(rows, "ts", "deleted_at")


def _common_files(app: Context, records: dict[str, Any]) -> dict[str, Any]:
    """messages.jsonl, membership.jsonl, netlog.jsonl and audit.jsonl from a store export read."""
    return {
        "messages.jsonl": _messages(app, records["messages"]),
        "membership.jsonl": _with_times(records["membership"], "ts"),
        "netlog.jsonl": _with_times(_decode_detail(records["netlog"]), "ts"),
        "audit.jsonl": _with_times(records["audit"], "ts"),
    }


async def export(app: Context, args: dict[str, Any]) -> list[str]:
    gid, username = args.get("group_id"), args.get("username")
    if (gid is None) == (username is None):
        raise OperatorError("export needs exactly one of --group or --user")
    now = app.now_ms()
    since, until = args.get("since"), args.get("until")
    for name, v in (("--since", since), ("--until", until)):
        if v is not None and type(v) is not int:
            raise OperatorError(f"{name} must be a time")
    lo = since if since is not None else _MIN_TS
    hi = until if until is not None else now + 1
    if lo >= hi:
        raise OperatorError("--since must be before --until")
    if not args.get("out"):
        raise OperatorError("--out is required")
    files: dict[str, Any]
    target: dict[str, Any]
    if gid is not None:
        gid = str(gid)
        group = app.state.groups.get(gid)
        if group is None:
            raise OperatorError(f"unknown group {gid}")
        target = {"type": "group", "group_id": gid}
        out = _prepare_out(str(args["out"]))
        records = await app.store.export_group(gid, lo, hi, set(group.members))
        files = _common_files(app, records)
        files["group.json"] = _with_times([records["group"]], "created_at", "dissolved_at", "closed_at")[0]
        audit_group, audit_target = gid, gid
    else:
        uid = app.state.by_username.get(username_key(str(username)))
        if uid is None:
            raise OperatorError(f"unknown user {username}")
        user = app.state.users[uid]
        target = {"type": "user", "user_id": uid, "username": user.username}
        out = _prepare_out(str(args["out"]))
        records = await app.store.export_user(uid, lo, hi)
        files = _common_files(app, records)
        files["identity.json"] = identity_record(app, uid, records["account"])
        audit_group, audit_target = None, uid
    query = {"target": target, "since": since, "until": until, "since_iso": iso(since),
             "until_iso": iso(until), "range": "since <= ts < until (until: generated_at when not given)"}
    loop = asyncio.get_running_loop()
    entries = await loop.run_in_executor(None, _write_files, out, files)
    manifest = {"format": FORMAT, "query": query, "generated_at": now, "generated_at_iso": iso(now),
                "operator": operator_name(),
                "retention_days": app.cfg.retention.days, "files": entries,
                "record_head": (await record.current_head(app)).as_dict()}
    digest = await loop.run_in_executor(None, _write_manifest, out, manifest)
    await apply(app, audit=Audit(
        app.now_ms(), OPERATOR, operator_name(), "export", audit_group, audit_target, "export for supervision",
        {"query": query, "out": str(out), "manifest_sha256": digest,
         "files": {e["name"]: e["sha256"] for e in entries}},
    ))
    lines = [f"exported {target['type']} {target.get('group_id') or target.get('username')} to {out}"]
    lines += [f"{e['name']}: {e['lines']} lines, sha256 {e['sha256']}" for e in entries]
    lines.append(f"manifest.json: sha256 {digest}")
    return lines


def identity_record(app: Context, uid: str, account: dict[str, Any]) -> dict[str, Any]:
    """The account with its identity fields decrypted: used only by exports."""

    def opened(blob: bytes | None) -> str | None:
        return app.vault.open(bytes(blob)) if blob else None

    rec = {
        "user_id": uid, "username": account["username"], "display_name": account["display_name"],
        "phone": opened(account["phone_enc"]), "legal_name": opened(account["name_enc"]),
        "id_number": opened(account["id_enc"]),
        "id_verified_at": account["id_verified_at"], "credit_score": account["credit_score"],
        "created_at": account["created_at"], "deleted_at": account["deleted_at"],
        "blacklisted_at": account["blacklisted_at"],
        "erased": account["deleted_at"] is not None and not account["phone_enc"],
    }
    return _with_times([rec], "id_verified_at", "created_at", "deleted_at", "blacklisted_at")[0]
