"""Named operators (P5): the operator socket tells who connected (the kernel's peer credentials),
each role runs only its commands, and the record, the sanctions, exports and notices name the person.

The test runs ``qunguan admin`` (its real code, in a forked child) as other OS users: numeric
uids with no account, which the kernel reports all the same. That needs root; as anyone else
the tests are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from tests.e2e.harness import open_group

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="running qunguan admin as other OS users needs root")

REVIEWER, ENFORCER, STRANGER = 60001, 60002, 60003
OPS_GROUP = 60100
WITHIN = 2.0

OPERATORS = """
[admin]
socket = "{shared}/admin.sock"
socket_group = "{gid}"

[[operators]]
name = "王安全"
role = "content_safety_officer"
unix_user = "root"

[[operators]]
name = "李审核"
role = "reviewer"
unix_user = "{reviewer}"

[[operators]]
name = "张执法"
role = "operator"
unix_user = "{enforcer}"

[[content.lists]]
category = "rumour_fraud"
path = "fraud.txt"
action = "review"
"""


@pytest.fixture
def shared():
    """A folder every operator can reach (pytest's own tmp folders are private to root)."""
    d = Path(tempfile.mkdtemp(prefix="qunguan-operators-"))
    d.chmod(0o755)
    # What an operator's `qunguan admin` needs of the config: where the socket is.
    (d / "operator.toml").write_text(f'[admin]\nsocket = "{d}/admin.sock"\n', encoding="utf-8")
    (d / "operator.toml").chmod(0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def srv(make_server, tmp_path, shared):
    (tmp_path / "srv").mkdir(exist_ok=True)
    (tmp_path / "srv" / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    return make_server(OPERATORS.format(shared=shared, gid=OPS_GROUP, reviewer=REVIEWER, enforcer=ENFORCER))


def _run_as(uid: int, config: Path, argv: list[str]) -> tuple[int, str, str]:
    """Fork, become OS user ``uid`` (group: the operators' group, no other), and run the real
    ``qunguan admin`` code there (no new exec: the test's Python lives under /root)."""
    from server.operator import cli

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(OPS_GROUP)
            os.setuid(uid)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = cli.main(str(config), argv)
            os.write(w, json.dumps([rc, out.getvalue(), err.getvalue()]).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    with os.fdopen(r, "rb") as f:
        while chunk := f.read(65536):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    assert status == 0 and chunks, "the forked qunguan admin failed"
    rc, out, err = json.loads(b"".join(chunks))
    return rc, out, err


async def admin_as(uid: int, shared: Path, *args: str) -> tuple[int, str, str]:
    """``qunguan admin ARGS`` run as OS user ``uid`` in the operators' group (and no other group)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _run_as, uid, shared / "operator.toml", list(args))


async def test_socket_is_shared_with_the_operators_group_and_names_who_connected(srv, shared):
    st = os.stat(shared / "admin.sock")
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == OPS_GROUP
    rc, out, err = await admin_as(REVIEWER, shared, "ping")
    assert rc == 0, err
    assert json.loads(out)["operator"] == "李审核" and json.loads(out)["role"] == "reviewer"
    rc, out, _ = await srv.admin("ping")  # root: the content safety officer
    assert rc == 0 and json.loads(out)["operator"] == "王安全"
    # In the socket's group but not a configured operator: refused, one line, exit 2.
    rc, _, err = await admin_as(STRANGER, shared, "ping")
    assert rc == 2 and "uid 60003 is not a configured operator" in err and len(err.strip().splitlines()) == 1


async def test_roles_decide_what_runs_and_the_record_names_the_person(srv, shared):
    owner = await srv.user()
    gid = await open_group(owner)
    member = await srv.user()
    await member.request("join_group", group_id=gid)
    held = await member.send(gid, "刷单返利，日入千元")
    assert held["held"] is True
    rc, out, _ = await srv.admin("review-queue", "--open")
    [item] = [json.loads(line) for line in out.splitlines()]

    # A reviewer may decide a review item but not blacklist anyone.
    rc, _, err = await admin_as(REVIEWER, shared, "blacklist", member.username, "--reason", "fraud")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "李审核 (reviewer) may not run blacklist" in err
    assert (await member.call("send", group_id=gid, text="still here"))["ok"]
    rc, _, err = await admin_as(REVIEWER, shared, "decide", str(item["item_id"]), "--decision", "release",
                                "--note", "不属于诈骗")
    assert rc == 0, err
    released = await owner.next_event("message_released", timeout=WITHIN)
    assert released["seq"] == held["seq"] and released["text"].startswith("刷单返利")
    rules = shared / "rules.txt"  # (a regular file: a device is refused before the role is asked)
    rules.write_text("", encoding="utf-8")
    rules.chmod(0o644)
    for refused in (("warn-group", gid, "--reason", "x"), ("export", "--group", gid, "--out", str(shared / "x")),
                    ("set-agreement", "--version", "9", "--rules-file", str(rules), "--agreement-file", str(rules))):
        rc, _, err = await admin_as(REVIEWER, shared, *refused)
        assert rc == 2 and "may not run" in err, (refused, err)

    # An operator warns (the notice names them) and blacklists, but may not lift a blacklist.
    rc, _, err = await admin_as(ENFORCER, shared, "warn-group", gid, "--reason", "请整改")
    assert rc == 0, err
    notice = await owner.next_event("notice", timeout=WITHIN)
    assert notice["kind"] == "warning" and notice["by"] == "张执法"
    rc, _, err = await admin_as(ENFORCER, shared, "blacklist", member.username, "--reason", "fraud")
    assert rc == 0, err
    rc, out, _ = await srv.admin("sanctions", "--user", member.username)
    [bl] = [json.loads(line) for line in out.splitlines()]
    assert bl["kind"] == "blacklist" and bl["actor"] == "张执法"
    rc, _, err = await admin_as(ENFORCER, shared, "lift", bl["id"], "--reason", "mistake")
    assert rc == 2 and "content_safety_officer" in err
    rc, _, err = await srv.admin("lift", bl["id"], "--reason", "身份被冒用")  # the officer may
    assert rc == 0, err
    c = await srv.client()
    assert (await c.call("login", username=member.username, password="password123"))["ok"]

    # The officer exports; the manifest names them.
    out_dir = shared / "export"
    rc, _, err = await srv.admin("export", "--group", gid, "--out", str(out_dir))
    assert rc == 0, err
    assert json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))["operator"] == "王安全"

    # Who did what: the enforcement record and the sanctions table.
    record = srv.db_rows("SELECT action, actor_type, actor_id FROM audit WHERE actor_type = 'operator' ORDER BY id")
    assert [tuple(r) for r in record] == [
        ("review_release", "operator", "李审核"),
        ("warn_group", "operator", "张执法"),
        ("blacklist", "operator", "张执法"),
        ("lift_sanction", "operator", "王安全"),
        ("export", "operator", "王安全"),
    ]
    rows = srv.db_rows("SELECT kind, actor, lifted_by FROM sanctions ORDER BY id")
    assert [tuple(r) for r in rows] == [("warning", "张执法", None), ("blacklist", "张执法", "王安全")]
    rc, out, _ = await srv.admin("verify-audit")
    assert rc == 0 and "whole" in out


async def test_a_reload_that_removes_every_operator_keeps_them_until_a_restart(srv, shared):
    """Without [[operators]] whoever opens the socket is the single operator, with every command; the
    socket stays 0660 for the operators' group until a restart. A SIGHUP that dropped the list made
    every member of that group a full operator, so that change waits for the restart: the named
    operators stay, each with their own role, and one ERROR line says why (and no warning that
    socket_group has no effect and the socket is 0600, which the file alone would give)."""
    import re
    import signal

    assert srv.proc is not None
    text = srv.config.read_text(encoding="utf-8")
    without = re.sub(r"\[\[operators\]\]\nname = [^\n]*\nrole = [^\n]*\nunix_user = [^\n]*\n", "", text)
    assert "[[operators]]" not in without and "[admin]" in without
    srv.config.write_text(without, encoding="utf-8")
    srv.proc.send_signal(signal.SIGHUP)
    assert await srv.logged("not the removal of every [[operators]] table"), "".join(srv.output)
    line = next(ln for ln in srv.output if "[[operators]] table" in ln)
    assert "ERROR" in line and "李审核" in line and "until a restart" in line, line
    # (the warning for socket_group without [[operators]], from the file alone, would be false: it stays 0660)
    assert not any("socket_group" in ln and "has no effect" in ln for ln in srv.output), "".join(srv.output)

    st = os.stat(shared / "admin.sock")
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == OPS_GROUP  # (still the group's)
    rc, _, err = await admin_as(STRANGER, shared, "ping")  # in the group, no operator: still refused
    assert rc == 2 and "uid 60003 is not a configured operator" in err, err
    rc, _, err = await admin_as(REVIEWER, shared, "purge")  # still the reviewer, with a reviewer's commands
    assert rc == 2 and "李审核 (reviewer) may not run purge" in err, err
    rc, out, err = await admin_as(REVIEWER, shared, "ping")
    assert rc == 0 and json.loads(out)["operator"] == "李审核", err

    # Changing the named operators (one stays named) applies at once.
    only_officer = re.sub(r"\[\[operators\]\]\nname = \"李审核\"\nrole = [^\n]*\nunix_user = [^\n]*\n", "", text)
    srv.config.write_text(only_officer, encoding="utf-8")
    srv.proc.send_signal(signal.SIGHUP)
    assert await srv.logged("config reloaded\n"), "".join(srv.output)
    rc, _, err = await admin_as(REVIEWER, shared, "ping")
    assert rc == 2 and "uid 60001 is not a configured operator" in err, err
