"""``[[operators]]`` in the config, and the peer credentials that pick one."""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

import pytest

from server.config import ConfigError, parse_config
from server.operator.channel import peer_uid

ME = pwd.getpwuid(os.getuid()).pw_name


def ops(*items: dict) -> dict:
    return {"operators": list(items)}


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(data, Path("."))
    return [str(p) for p in err.value.problems]


def test_none_configured_is_single_operator_mode():
    assert parse_config({}, Path(".")).operators == ()


def test_operators_resolve_to_uids():
    cfg = parse_config(ops({"name": "王安全", "role": "content_safety_officer", "unix_user": ME},
                           {"name": "李审核", "role": "reviewer", "unix_user": "60001"}), Path("."))
    assert [(o.name, o.role, o.uid) for o in cfg.operators] == [
        ("王安全", "content_safety_officer", os.getuid()), ("李审核", "reviewer", 60001)]


def test_every_mistake_is_named():
    found = problems(ops({"name": "", "role": "boss", "unix_user": "no-such-user-here"},
                         {"name": "x", "role": "reviewer"},
                         {"name": "y", "role": "reviewer", "unix_user": "1", "key": "z"}))
    joined = "\n".join(found)
    assert "operators[0].name" in joined and "must not be empty" in joined
    assert "operators[0].role = 'boss': must be one of 'content_safety_officer', 'operator', 'reviewer'" in joined
    assert "operators[0].unix_user = 'no-such-user-here': no such OS user" in joined
    assert "operators[1].unix_user" in joined and "required key is missing" in joined
    assert "operators[2].key" in joined and "unknown key" in joined
    assert problems({"operators": {"name": "x"}}) == [
        "operators = {'name': 'x'}: expected an array of tables ([[operators]]), got a table"]


def test_one_os_account_is_one_person_and_names_are_unique():
    found = problems(ops({"name": "a", "role": "reviewer", "unix_user": "60001"},
                         {"name": "a", "role": "operator", "unix_user": "60001"}))
    assert any("operators[1].name" in p and "duplicate" in p for p in found)
    # Named by the key that was written (uid is no key of [[operators]]), with the value written there.
    assert ("operators[1].unix_user = '60001': duplicate OS account: uid 60001, as operators[0].unix_user; "
            "each operator needs their own") in found
    assert not any(".uid" in p for p in found)


def test_an_operator_name_may_not_look_like_a_user_id():
    """Members are told a message the platform removed apart from one a manager deleted by whether
    the deleter's name is a user id (``deleted_by``); an operator named like one would pass for a
    manager."""
    assert problems(ops({"name": "u0123456789abcdef", "role": "reviewer", "unix_user": "60001"})) == [
        ("operators[0].name = 'u0123456789abcdef': has the shape of a user id (u and 16 hex digits); an "
         "operator's name must not, so that an operator's deletion is never shown as a member's")]
    parse_config(ops({"name": "u0123", "role": "reviewer", "unix_user": "60001"}), Path("."))  # (no id)


def test_duplicates_are_reported_beside_the_other_mistakes():
    """check-config names every problem at once: an invalid role in one table stopped the reading
    before the names and OS accounts were compared, so the duplicates came to light only after
    the role was fixed. A user name and the uid it stands for are one OS account."""
    found = problems(ops({"name": "a", "role": "reviewer", "unix_user": "60001"},
                         {"name": "b", "role": "boss", "unix_user": ME},
                         {"name": "a", "role": "operator", "unix_user": "60002"},
                         {"name": "c", "role": "operator", "unix_user": str(os.getuid())}))
    assert found == [
        "operators[1].role = 'boss': must be one of 'content_safety_officer', 'operator', 'reviewer'",
        "operators[2].name = 'a': duplicate name (operators[0] has it); each operator needs their own",
        (f"operators[3].unix_user = '{os.getuid()}': duplicate OS account: uid {os.getuid()}, as "
         "operators[1].unix_user; each operator needs their own"),
    ]


def test_socket_group_must_exist():
    assert parse_config({"admin": {"socket_group": "60100"}}, Path(".")).admin.socket_group == "60100"
    [p] = problems({"admin": {"socket_group": "no-such-group-here"}})
    assert "no such OS group" in p


def test_peer_uid_is_the_connecting_process():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peer_uid(a) == os.getuid()
    assert peer_uid(None) is None


async def test_a_socket_made_for_named_operators_never_stands_for_the_single_operator(tmp_path):
    """The socket made for named operators is the operators' group's (0660) until a restart; were the
    list empty while it runs, every uid would be the single operator with every command. The reload
    keeps the list (tests/e2e/test_named_operators.py); the channel refuses every uid all the same."""
    import dataclasses
    import stat

    from server.app import App
    from server.operator.channel import SOLE, OperatorChannel

    cfg = parse_config({"server": {"port": 0}, **ops({"name": "王安全", "role": "content_safety_officer",
                                                       "unix_user": ME})}, tmp_path)
    app = App(cfg)
    channel = OperatorChannel(app, tmp_path / "admin.sock")
    await channel.start()
    try:
        assert stat.S_IMODE(os.stat(tmp_path / "admin.sock").st_mode) == 0o660
        assert channel.identify(os.getuid()).name == "王安全"
        app.cfg = dataclasses.replace(cfg, operators=())
        assert channel.identify(os.getuid()) is None and channel.identify(60003) is None
    finally:
        await channel.stop()
    private = OperatorChannel(app, tmp_path / "private.sock")  # made without named operators: 0600
    await private.start()
    try:
        assert stat.S_IMODE(os.stat(tmp_path / "private.sock").st_mode) == 0o600
        assert private.identify(os.getuid()) is SOLE
    finally:
        await private.stop()


async def test_a_command_that_fails_inside_is_an_internal_error_not_a_malformed_request(tmp_path):
    """A KeyError, ValueError or TypeError raised deep inside a command was answered "malformed
    request: ..." (the operator's mistake, exit 2); it is a bug: "internal error", exit status 3, with
    its traceback in the log. A request that really is malformed still says so (exit 2)."""
    import json

    from server.app import App
    from server.operator import channel as ch

    app = App(parse_config({"server": {"port": 0}}, tmp_path))
    chan = ch.OperatorChannel(app, tmp_path / "admin.sock")
    ch.load_commands()

    async def broken(app: object, args: dict) -> ch.Result:
        return ch.Result([{"a": 1}["b"]])  # a KeyError: a bug in the command

    ch.COMMANDS["test-broken"] = broken
    try:
        for exc in (KeyError, ValueError, TypeError):
            async def raising(app: object, args: dict, exc: type[Exception] = exc) -> ch.Result:
                raise exc("deep inside")

            ch.COMMANDS["test-raising"] = raising
            reply = await chan.run(json.dumps({"cmd": "test-raising", "args": {}}).encode())
            assert reply == {"ok": False, "error": "internal error; see the server log", "exit": ch.INTERNAL_EXIT}
        reply = await chan.run(json.dumps({"cmd": "test-broken", "args": {}}).encode())
        assert reply["exit"] == ch.INTERNAL_EXIT and "malformed" not in reply["error"]
    finally:
        ch.COMMANDS.pop("test-broken", None)
        ch.COMMANDS.pop("test-raising", None)
    for line in (b"not json", b"[1, 2]", b'{"args": {}}', b'{"cmd": 5}', b'\xff\xfe'):
        reply = await chan.run(line)
        assert reply["ok"] is False and reply["error"].startswith("malformed request") and "exit" not in reply, line
    reply = await chan.run(json.dumps({"cmd": "ping", "args": [1]}).encode())
    assert reply == {"ok": False, "error": "malformed request: args must be an object"}


def test_the_admin_tool_knows_the_servers_internal_error_status():
    from server.operator import channel, cli

    assert cli.INTERNAL_EXIT == channel.INTERNAL_EXIT == 3


def test_a_home_takes_only_the_operators_its_own_config_names() -> None:
    """A review of the operator channel: a cluster's home ran whatever operator a gateway named, so a
    gateway whose config named no operators (drifted) forwarded its server user as the single
    operator, who may run every command, past the home's named operators and their roles."""
    from types import SimpleNamespace

    from server.operator.channel import SOLE, Operator, forwarded_operator

    ops = (SimpleNamespace(name="张执法", role="reviewer", uid=60001),)
    reviewer = Operator("张执法", "reviewer", 60001, named=True)
    assert forwarded_operator(ops, reviewer) == reviewer
    for sent in (SOLE, Operator("张执法", "content_safety_officer", 60001, named=True),
                 Operator("张执法", "reviewer", 60002, named=True), Operator("李执法", "reviewer", 60001, named=True)):
        refused = forwarded_operator(ops, sent)
        assert isinstance(refused, str) and "[[operators]] differ" in refused, sent
    assert forwarded_operator((), SOLE) == SOLE  # (no named operators here: as before)
    assert forwarded_operator((), reviewer) == reviewer
