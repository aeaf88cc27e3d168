"""``qunguan admin`` manners against a running server: local times beside milliseconds, ``--json`` for scripts."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import sys
from zoneinfo import ZoneInfo

from tests.e2e.harness import ROOT, open_group

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOCAL = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CST \((\d{13})\)$")


async def admin(server, *args: str, tz: str = "Asia/Shanghai", before: tuple[str, ...] = ()) -> tuple[int, str, str]:
    """``qunguan admin`` as an operator in ``tz`` runs it; ``before``: arguments ahead of ``--config``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "admin", *before, "--config", str(server.config), *args,
        cwd=server.dir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TZ": tz},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


def shanghai(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S CST") + f" ({ms})"


async def reported_group(server):
    owner = await server.user()
    gid = await open_group(owner)
    witness = await server.user()
    await witness.request("join_group", group_id=gid)
    r = await witness.request("report", target_type="group", group_id=gid, reason="bad group")
    return gid, r["report_id"]


async def test_listings_keep_their_keys_and_gain_local_times(server):
    gid, report_id = await reported_group(server)
    rc, out, err = await admin(server, "reports", "--open")
    assert rc == 0, err
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["report_id"] == report_id and isinstance(row["created_at"], int)  # the old keys, unchanged
    assert row["created_at_local"] == shanghai(row["created_at"])
    assert LOCAL.match(row["created_at_local"])
    assert row["resolved_at"] is None and row["resolved_at_local"] is None

    rc, _, err = await admin(server, "suspend-group", gid, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    rc, out, _ = await admin(server, "sanctions", "--group", gid)
    [s] = [json.loads(line) for line in out.splitlines()]
    assert s["status"] == "in_force"
    assert s["starts_at_local"] == shanghai(s["starts_at"]) and s["expires_at_local"] == shanghai(s["expires_at"])
    assert s["expires_at"] - s["starts_at"] == 600_000
    assert s["lifted_at_local"] is None

    rc, _, _ = await admin(server, "hold", "--group", gid, "--reason", "case 7")
    assert rc == 0
    rc, out, _ = await admin(server, "holds")
    [h] = [json.loads(line) for line in out.splitlines()]
    assert h["created_at_local"] == shanghai(h["created_at"])

    # the zone is the operator's own: the same row read in UTC says UTC
    rc, out, _ = await admin(server, "holds", tz="UTC")
    [h_utc] = [json.loads(line) for line in out.splitlines()]
    when = dt.datetime.fromtimestamp(h["created_at"] / 1000, dt.UTC)
    assert h_utc["created_at_local"] == f"{when:%Y-%m-%d %H:%M:%S} UTC ({h['created_at']})"


async def test_outcome_lines_spell_times_for_people_and_keep_ms_for_scripts(server):
    owner = await server.user()
    gid = await open_group(owner)
    rc, out, err = await admin(server, "suspend-group", gid, "--seconds", "60", "--reason", "spam")
    assert rc == 0, err
    m = re.fullmatch(rf"suspended group {gid} until (\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d) CST \((\d{{13}})\)\n", out)
    assert m, out
    assert shanghai(int(m.group(2))).startswith(m.group(1))

    rc, out, err = await admin(server, "--json", "suspend-group", gid, "--seconds", "60", "--reason", "again")
    assert rc == 0, err
    [line] = out.splitlines()
    reply = json.loads(line)
    assert reply["ok"] is True and re.fullmatch(rf"suspended group {gid} until \d{{13}}", reply["message"])


async def test_json_flag_makes_every_line_an_object_wherever_it_is_given(server):
    gid, _ = await reported_group(server)
    for before, args in [((), ("--json", "ping")), (("--json",), ("ping",)), ((), ("ping", "--json"))]:
        rc, out, err = await admin(server, *args, before=before)
        assert rc == 0 and err == "", (args, err)
        assert "groups" in json.loads(out)
    rc, out, _ = await admin(server, "--json", "reports")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1 and rows[0]["group_id"] == gid and "created_at_local" in rows[0]
    rc, out, _ = await admin(server, "--json", "verify-audit")
    assert rc == 0 and json.loads(out) == {"ok": True, "message": json.loads(out)["message"]}
    assert "whole" in json.loads(out)["message"]


async def test_json_errors_go_to_stderr_with_the_same_exit_codes(server):
    cases = [
        ("warn-group", "999999999", "--reason", "x"),  # unknown target, from the server
        ("suspend-group", "123456789", "--seconds", "ten", "--reason", "x"),  # bad argument, from argparse
        ("no-such-command",),
        ("export", "--out", "x"),  # needs --group or --user
        (),  # no command at all
    ]
    for args in cases:
        rc_h, out_h, err_h = await admin(server, *args)
        rc, out, err = await admin(server, "--json", *args)
        assert rc == rc_h == 2 and out == "", (args, out)
        [line] = err.splitlines()
        e = json.loads(line)
        assert e["ok"] is False and e["exit"] == 2 and e["error"], (args, e)
        assert not e["error"].startswith("qunguan admin"), e
        if args:  # the same reason as for people, without the prefix
            assert err_h == f"qunguan admin: {e['error']}\n", (args, err_h)
    assert "no-such-command" not in json.loads((await admin(server, "--json"))[2])["error"]
    assert "warn-group" in json.loads((await admin(server, "--json"))[2])["error"]  # lists the commands

    await server.stopped()
    rc, out, err = await admin(server, "--json", "ping")
    assert rc == 2 and out == "" and "no server is running" in json.loads(err)["error"]
