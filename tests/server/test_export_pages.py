"""A group's export reads and writes its messages a page at a time (export._stream_messages): the
files are the same bytes as written whole, whatever the page size. Held whole, a group of 300,000
messages raised the process's memory by some 250 MB for good (a leak review)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.app import App
from server.operator import export
from server.operator.channel import CURRENT, Operator
from tests.e2e.test_media import pdf, upload
from tests.server.lookups import user


async def _export(app: App, gid: str, out: Path) -> dict:
    CURRENT.set(Operator("op", "admin", 0, False))
    done = await app.operator.run(json.dumps({"cmd": "export", "args": {"group_id": gid, "out": str(out)}}).encode())
    assert done["ok"], done
    return json.loads((out / "manifest.json").read_text())


def _files(manifest: dict) -> list[dict]:
    """The manifest's files but the record's: each export is recorded, so the next one has one more entry."""
    return [f for f in manifest["files"] if f["name"] != "audit.jsonl"]


async def test_messages_written_a_page_at_a_time_are_the_same_bytes(app: App, tmp_path, monkeypatch:
                                                                      pytest.MonkeyPatch) -> None:
    owner, member = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    await member.request("join_group", group_id=gid)
    media = await upload(member, pdf(), "application/pdf")
    for n in range(7):
        sender = owner if n % 2 else member
        extra = {"attachments": [media["media_id"]]} if n in (2, 6) else {}
        await sender.request("send", group_id=gid, text=f"第{n}条", client_msg_id=f"c{n}", **extra)
    await owner.request("edit_message", group_id=gid, seq=2, text="改过的")
    await member.request("react", group_id=gid, seq=2, emoji="👍", on=True)
    await member.request("react", group_id=gid, seq=5, emoji="👍", on=True)
    monkeypatch.setattr(export, "MESSAGES_PER_READ", 10_000)
    whole = await _export(app, gid, tmp_path / "whole")
    monkeypatch.setattr(export, "MESSAGES_PER_READ", 2)  # (pages of 2, 2, 2 and 1: the last is short)
    paged = await _export(app, gid, tmp_path / "paged")
    assert _files(whole) == _files(paged) and whole["media"] == paged["media"]
    assert paged["files"][0]["name"] == "messages.jsonl"  # (in its place, first)
    netlog = next(f for f in paged["files"] if f["name"] == "netlog.jsonl")  # (read by a cursor, pages of 2)
    assert netlog["lines"] > 2, netlog
    logged = [json.loads(line) for line in (tmp_path / "paged" / "netlog.jsonl").read_text().splitlines()]
    assert [r["id"] for r in logged] == sorted(r["id"] for r in logged) and {r["user_id"] for r in logged} >= {
        owner.user_id, member.user_id}
    lines = (tmp_path / "paged" / "messages.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5, 6, 7]
    shown = json.loads(lines[1])
    assert shown["versions"] and shown["reactions"] and shown["sender_username"] == "user1"
    media_lines = [json.loads(line) for line in (tmp_path / "paged" / "media.jsonl").read_text().splitlines()]
    assert [m["messages"] for m in media_lines] == [[[gid, 3], [gid, 7]]]
    monkeypatch.setattr(export, "MESSAGES_PER_READ", 7)  # (a full last page: one more read finds none)
    exact = await _export(app, gid, tmp_path / "exact")
    assert _files(exact) == _files(whole)
    await owner.close()
    await member.close()
