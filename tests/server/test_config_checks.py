"""check-config finds every problem in one run: every item of an array, keys outside any section, the
identity keys beside the other problems; settings that do nothing are warned about or refused."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from server.config import ConfigError, check_config_main, env_overrides, load_config, parse_config
from tests.server.test_config import problems_of


def problems(data: dict, base_dir: Path) -> list[str]:
    return [str(p) for p in problems_of(data, base_dir)]


# Every item of an array is checked, and duplicates among the valid ones are reported with their places.
ARRAYS = [
    ({"groups": {"categories": ["Bad Cat", "a", "a"]}},
     ["groups.categories[0] = 'Bad Cat'", "groups.categories[2] = 'a': duplicate value (item [1] has it)"]),
    ({"groups": {"categories": ["a", 7, "b", "a"]}},
     ["groups.categories[1] = 7", "groups.categories[3] = 'a': duplicate value (item [0] has it)"]),
    ({"public_accounts": {"categories": ["a", "A", "a"]}},
     ["public_accounts.categories[1] = 'A'", "public_accounts.categories[2] = 'a': duplicate value (item [0]"]),
    ({"media": {"allowed_types": ["x/y", "image/png", "image/png"]}},
     ["media.allowed_types[0] = 'x/y'", "media.allowed_types[2] = 'image/png': duplicate value (item [1] has it)"]),
    ({"groups": {"size_classes": [{"name": "a", "min_members": 0}, {"name": "b", "min_members": "x"},
                                  {"name": "a", "min_members": 5}]}},
     ["groups.size_classes[1].min_members = 'x'",
      "groups.size_classes[2].name = 'a': duplicate name (item [0] has it)"]),
    # A table whose other key is wrong still takes part by its valid name; one that is no table does not.
    ({"groups": {"activity_classes": [7, {"name": "q", "min_messages_per_day": 0},
                                      {"name": "q", "min_messages_per_day": -1}]}},
     ["groups.activity_classes[0] = 7", "groups.activity_classes[2].min_messages_per_day = -1",
      "groups.activity_classes[2].name = 'q': duplicate name (item [1] has it)"]),
    ({"public_accounts": {"read_classes": [{"name": "r", "min_reads": 0}, {"name": "r"}]}},
     ["public_accounts.read_classes[1].min_reads = None: required",
      "public_accounts.read_classes[1].name = 'r': duplicate name (item [0] has it)"]),
]


@pytest.mark.parametrize(("data", "starts"), ARRAYS)
def test_a_bad_item_does_not_hide_duplicates(tmp_path, data, starts):
    found = problems(data, tmp_path)
    assert len(found) == len(starts), found
    for line, start in zip(found, starts, strict=True):
        assert line.startswith(start), (line, start)


def test_ordering_is_not_judged_while_an_item_is_invalid(tmp_path):
    """``ascending`` compares each item with the one before it: with an item left out that would be the
    wrong one, so it waits until the array is valid (then it is reported)."""
    data = {"credit": {"levels": [{"min_score": 50}, {"min_score": "x"}, {"min_score": 10}]}}
    assert problems(data, tmp_path) == ["credit.levels[1].min_score = 'x': expected an integer, got a string"]
    del data["credit"]["levels"][1]
    assert [p.split(" =")[0] for p in problems(data, tmp_path)] == ["credit.levels[1].min_score"]


OUTSIDE = "a key outside any section (keys go under a [section])"
TOP_LEVEL = [
    ({"port": 1}, f"port = 1: {OUTSIDE}; did you mean [server] port or [metrics] port?"),
    ({"days": 190}, f"days = 190: {OUTSIDE}; did you mean [retention] days?"),
    ({"argon2_time_cst": 2}, f"argon2_time_cst = 2: {OUTSIDE}; did you mean [identity] argon2_time_cost?"),
    ({"zzzz": "x"}, f"zzzz = 'x': {OUTSIDE}"),
    ({"serverr": {}}, "serverr = {}: unknown section; did you mean 'server'?"),
]


@pytest.mark.parametrize(("data", "line"), TOP_LEVEL)
def test_a_key_outside_any_section_names_the_sections_that_have_it(tmp_path, data, line):
    assert problems(data, tmp_path) == [line]


def test_socket_group_without_operators_is_a_warning(tmp_path, capsys):
    config = tmp_path / "q.toml"
    config.write_text('[admin]\nsocket_group = "0"\n', encoding="utf-8")
    cfg = load_config(config, environ={})
    assert [str(w) for w in cfg.warnings] == [(
        "admin.socket_group = '0': has no effect without [[operators]]: the socket stays private to the "
        "server's OS user (mode 0600)")]
    assert check_config_main(config) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("warning: admin.socket_group = '0': has no effect") and out[1] == f"OK: {config}"
    config.write_text('[admin]\nsocket_group = "0"\n[[operators]]\nname = "a"\nrole = "operator"\n'
                      'unix_user = "60001"\n', encoding="utf-8")
    assert load_config(config, environ={}).warnings == ()
    assert parse_config({}, tmp_path).warnings == ()


PRODUCTION = '[identity]\ndev_mode = false\nkey_env = "QG_TEST_KEY"\n'


def test_development_providers_in_production_are_warnings_that_say_what_to_set(tmp_path, capsys, monkeypatch):
    """The checksum verifier compares the legal name with nothing, and the console and file SMS providers
    send no code to a phone: with dev_mode = false check-config and serve warn, naming what to set."""
    env = {"QG_TEST_KEY": "ab" * 32}
    config = tmp_path / "q.toml"
    config.write_text(PRODUCTION, encoding="utf-8")
    found = [str(w) for w in load_config(config, environ=env).warnings]
    assert [w.split(": ")[0] for w in found] == ["identity.id_verifier = 'checksum'",
                                                 "identity.sms_provider = 'console'"]
    verifier, sms = found
    for text in ("dev_mode = false", "never compares the legal name", "invented number", "max_accounts_per_id",
                 'id_verifier = "http"', "id_verifier_url", "id_verifier_secret_file"):
        assert text in verifier, (text, verifier)
    for text in ("no code is sent to a phone", "standard output", 'sms_provider = "http"', "sms_url"):
        assert text in sms, (text, sms)
    config.write_text(PRODUCTION + 'sms_provider = "file"\n', encoding="utf-8")
    [_, sms] = [str(w) for w in load_config(config, environ=env).warnings]
    assert sms.startswith("identity.sms_provider = 'file'") and "phone numbers in plain text" in sms, sms
    monkeypatch.setenv("QG_TEST_KEY", env["QG_TEST_KEY"])
    assert check_config_main(config) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"warning: {w}" for w in load_config(config, environ=env).warnings] + [f"OK: {config}"]
    # The real providers, or a development server: no warning.
    secret = tmp_path / "secret"
    secret.write_text("s" * 32, encoding="utf-8")
    config.write_text(PRODUCTION + f'sms_provider = "http"\nsms_url = "https://sms.example/send"\n'
                      f'sms_secret_file = "{secret}"\nid_verifier = "http"\n'
                      f'id_verifier_url = "https://id.example/verify"\nid_verifier_secret_file = "{secret}"\n',
                      encoding="utf-8")
    assert load_config(config, environ=env).warnings == ()
    config.write_text('[identity]\nsms_provider = "file"\n', encoding="utf-8")
    assert load_config(config, environ={}).warnings == ()


@pytest.mark.parametrize("var", ["QUNGUAN_OPERATORS", "QUNGUAN_OPERATORS_0_NAME"])
def test_operators_from_the_environment_are_refused(tmp_path, var):
    value = '[{name = "a", role = "operator", unix_user = "0"}]'
    found = env_overrides({}, {var: value})
    assert [str(p) for p in found] == [(f"{var} = {value!r}: [[operators]] come from the config file only (who "
                                        "may run which command is not taken from the environment); unset it")]
    with pytest.raises(ConfigError):
        load_config(None, environ={var: value})


def test_docs_example_reports_missing_lists_and_the_unset_key_in_one_run(tmp_path, capsys, monkeypatch):
    """The complete example of docs/config.md, before its word lists exist and without its key variable:
    check-config names both in its first run (the identity keys were checked only once the rest was valid)."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "config.md"
    text = doc.read_text(encoding="utf-8")
    start = text.index("```toml\n", text.index("## Complete example")) + len("```toml\n")
    example = text[start : text.index("```", start)]
    key_env = tomllib.loads(example)["identity"]["key_env"]
    monkeypatch.delenv(key_env, raising=False)
    for var in [v for v in __import__("os").environ if v.startswith("QUNGUAN_")]:
        monkeypatch.delenv(var)
    config = tmp_path / "q.toml"
    config.write_text(example, encoding="utf-8")
    assert check_config_main(config) == 2
    out = capsys.readouterr().out
    assert "content.lists[0].path" in out and "file not found" in out, out
    assert f"identity.key_env = {key_env!r}" in out, out


@pytest.mark.parametrize(("where", "blank"), [(w, b) for w in ("env", "file", "default_file")
                                               for b in ("", " \n", "\n\n") if (w, b) != ("env", "")])
def test_a_blank_identity_key_is_refused(tmp_path, capsys, monkeypatch, where, blank):
    """A key of white space only was read as SHA-256 of the empty text, a key anyone can compute,
    and every phone and ID number would have been sealed under it (a file made by ``touch``, a
    secret mounted empty, a first start's key file left empty by a crash)."""
    from server.security import KeyProblems, vault_for

    config = tmp_path / "q.toml"
    if where == "env":  # (an empty variable is refused as not set, with its own message)
        monkeypatch.setenv("QG_TEST_KEY", blank)
        config.write_text(PRODUCTION, encoding="utf-8")
    elif where == "file":
        (tmp_path / "key").write_text(blank, encoding="utf-8")
        config.write_text('[identity]\ndev_mode = false\nkey_file = "key"\n', encoding="utf-8")
    else:  # the development default, next to the database
        (tmp_path / "identity.key").write_text(blank, encoding="utf-8")
        config.write_text('[storage]\nurl = "sqlite:///' + str(tmp_path / "q.db") + '"\n', encoding="utf-8")
    cfg = load_config(config, environ=dict(os.environ))
    with pytest.raises(KeyProblems) as refused:
        vault_for(cfg)
    assert "the key is empty" in str(refused.value), str(refused.value)


# Keys valid alone that do not fit together, or values past what the server can hold: refused by
# check-config (and so by serve and a reload), where they used to pass and fail later.
ACROSS = [
    ({"admin": {"socket": "q.db"}, "storage": {"url": "sqlite:///q.db"}},
     "q.db': is storage's database"),
    ({"admin": {"socket": "id.key"}, "identity": {"key_file": "id.key"}}, "id.key': is identity.key_file"),
    ({"admin": {"socket": "audit-checkpoints.jsonl"}}, "is audit.checkpoint_file"),
    ({"server": {"port": 39111}, "metrics": {"port": 39111}}, "metrics.port = 39111: is server.port too"),
    ({"credit": {"initial_score": 10**20}}, "credit.initial_score = 100000000000000000000: out of range"),
    ({"credit": {"initial_score": 2 * 10**6}}, "credit.initial_score = 2000000: must be between"),
    ({"retention": {"days": 10**13}}, "retention.days = 10000000000000: must be at most 36500"),
    ({"rate_limits": {"message_burst": 10**400}}, "rate_limits.message_burst = 1"),
]


@pytest.mark.parametrize(("data", "starts"), ACROSS)
def test_keys_that_do_not_fit_together_or_past_what_is_held_are_refused(tmp_path, data, starts):
    found = problems(data, tmp_path)
    assert any(starts in p for p in found), found


def test_a_size_class_no_owner_can_reach_is_warned_about(tmp_path):
    """A size class needing a credit level past the last one passed unseen: no group could ever grow
    into it. Warned (valid: the default classes beside two levels of one's own stop groups there)."""
    data = {"groups": {"size_classes": [{"name": "small", "min_members": 0},
                                        {"name": "big", "min_members": 50, "min_credit_level": 5}]}}
    [warning] = [str(w) for w in parse_config(data, tmp_path).warnings]
    assert warning.startswith("groups.size_classes[1].min_credit_level = 5: there are only 4 credit levels")
    assert "no group grows to 50 members (big)" in warning
    data["groups"]["size_classes"][1]["min_credit_level"] = 4
    assert parse_config(data, tmp_path).warnings == ()


def test_keys_that_fit_are_not_refused(tmp_path):
    fine = {"admin": {"socket": "q.sock"}, "storage": {"url": "sqlite:///q.db"},
            "groups": {"size_classes": [{"name": "small", "min_members": 0, "min_credit_level": 4}]},
            "server": {"host": "127.0.0.1", "port": 39111}, "metrics": {"host": "10.0.0.1", "port": 39111},
            "credit": {"initial_score": -(10**6)}, "retention": {"days": 36_500}}
    parse_config(fine, tmp_path)  # (raises ConfigError listing any problem)


def test_an_unwritable_checkpoint_file_is_refused_by_check_config_and_serve(tmp_path, capsys):
    """The record's checkpoints on a path the server cannot write (no such folder, a folder, a read-only
    /etc) passed every check, then only a log line at each interval said they were never written while
    ``verify-audit`` still found the record whole."""
    from server.app import App, CannotStart, run

    config = tmp_path / "q.toml"
    for where, says in ((tmp_path / "nowhere" / "x.jsonl", "does not exist"), (tmp_path, "is a folder")):
        config.write_text(f'[server]\nport = 0\n[audit]\ncheckpoint_file = "{where}"\n', encoding="utf-8")
        assert check_config_main(config) == 2
        out = capsys.readouterr().out
        assert f"audit.checkpoint_file = '{where}'" in out and says in out, out
    cfg = load_config(config, environ={})
    import asyncio

    with pytest.raises(CannotStart, match="audit.checkpoint_file .* is a folder"):
        asyncio.run(run(cfg))
    assert App  # (imported for the type the failure is raised from)


def test_a_file_where_the_operator_socket_goes_is_kept_and_the_start_refused(tmp_path):
    """The server replaces a stale socket at ``admin.socket``, and deleted whatever else was there:
    the database, when the key named it by a slip. Anything but a socket is kept, and serve says why."""
    import asyncio

    from server.app import CannotStart, run

    precious = tmp_path / "precious.txt"
    precious.write_text("keep me", encoding="utf-8")
    config = tmp_path / "q.toml"
    config.write_text(f'[server]\nport = 0\n[admin]\nsocket = "{precious}"\n', encoding="utf-8")
    with pytest.raises(CannotStart, match="names a file that is not a socket"):
        asyncio.run(run(load_config(config, environ={})))
    assert precious.read_text(encoding="utf-8") == "keep me"


def test_a_live_socket_at_the_operator_socket_path_is_kept_and_a_stale_one_replaced(tmp_path):
    """A socket at ``admin.socket`` was always taken for a killed server's and replaced: a second server
    (on another database) given the same path cut the first one's operators off without a word."""
    import asyncio
    import socket

    from server.app import CannotStart, run

    path = tmp_path / "admin.sock"
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(path))
    live.listen()
    config = tmp_path / "q.toml"
    config.write_text(f'[server]\nport = 0\n[admin]\nsocket = "{path}"\n', encoding="utf-8")
    try:
        with pytest.raises(CannotStart, match="the socket of a server that is running"):
            asyncio.run(run(load_config(config, environ={})))
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(str(path))  # still the first one's
        probe.close()
    finally:
        live.close()
    # Closed, the socket file stays behind as a killed server's does: that one is replaced.
    assert path.exists()
    from server.operator.channel import OperatorChannel

    OperatorChannel(None, path)._replace_stale_socket()  # type: ignore[arg-type]  # (no app needed)
    assert not path.exists()


@pytest.mark.parametrize(("key", "strong"), [("x", False), ("/root", False), ("p" * 31, False), ("ab" * 15, False),
                                             ("p" * 32, True), ("ab" * 32, True), ("AB" * 32 + "\n", True)])
def test_a_production_identity_key_must_be_hard_to_guess(tmp_path, monkeypatch, key, strong):
    """With dev_mode = false any non-blank text was taken as the key: a key_env naming the wrong
    variable ($HOME) sealed every phone and ID number under "/root". The key must be 64 hex digits or
    a passphrase of 32 bytes or more, from a file or a variable alike; development keeps any."""
    from server.security import key_problems

    monkeypatch.setenv("QG_TEST_KEY", key)
    (tmp_path / "key").write_text(key, encoding="utf-8")
    for text in (PRODUCTION, '[identity]\ndev_mode = false\nkey_file = "key"\n'):
        (tmp_path / "q.toml").write_text(text, encoding="utf-8")
        found = [str(p) for p in key_problems(load_config(tmp_path / "q.toml", environ=dict(os.environ)))]
        assert (found == []) is strong, found
        assert strong or "64 hex digits" in found[0]
    (tmp_path / "q.toml").write_text('[identity]\nkey_file = "key"\n', encoding="utf-8")
    assert key_problems(load_config(tmp_path / "q.toml", environ=dict(os.environ))) == []


@pytest.mark.parametrize(("limits", "says"), [
    ({"max_members": 100}, "credit.levels[2].max_members = 100: level 3 allows 100 max_members, fewer than level 2"),
    ({"max_groups_created": 1}, "credit.levels[2].max_groups_created = 1: level 3 allows 1"),
    ({"max_members": 5000}, "credit.levels[3].max_members = 2000: level 4 allows 2000 max_members, fewer than"),
])
def test_a_credit_level_allowing_less_than_the_one_below_is_warned_about(tmp_path, limits, says):
    """The default levels set some caps and leave the others to [limits]: lowering or raising a limit
    made a higher level allow a smaller group, or fewer groups, than the level below, without a word."""
    found = [str(w) for w in parse_config({"limits": limits}, tmp_path).warnings]
    assert any(w.startswith(says) for w in found), found
    assert parse_config({}, tmp_path).warnings == ()


def test_a_bad_value_from_the_environment_names_its_variable(tmp_path):
    """QUNGUAN_SERVER_PORT=abc was reported as ``server.port = 'abc'``: an operator whose file says
    ``port = 8765`` looked in the file. The problem now names the variable; one from the file does not."""
    config = tmp_path / "q.toml"
    config.write_text("[server]\nport = 8765\n[limits]\nmax_members = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(config, environ={"QUNGUAN_SERVER_PORT": "abc", "QUNGUAN_CREDIT_LEVELS": "[{min_score = 'x'}]"})
    found = [str(p) for p in refused.value.problems]
    assert "server.port = 'abc': expected an integer, got a string (set by QUNGUAN_SERVER_PORT)" in found, found
    assert any(p.startswith("credit.levels[0].min_score") and p.endswith("(set by QUNGUAN_CREDIT_LEVELS)")
               for p in found), found
    assert any(p.startswith("limits.max_members = 1") and "set by" not in p for p in found), found


def test_problems_found_after_parsing_name_the_variable_that_set_the_key(tmp_path):
    """The identity key and the checkpoint file are checked once the config parsed (check-config, serve,
    a reload): a bad one set by a variable named the key alone, and the operator looked in the file."""
    from server.config import file_problems
    from server.security import KeyProblems, key_problems, vault_for

    config = tmp_path / "q.toml"
    config.write_text("[identity]\ndev_mode = false\n", encoding="utf-8")
    cfg = load_config(config, environ={"QUNGUAN_IDENTITY_KEY_ENV": "QG_TEST_NO_SUCH_KEY",
                                       "QUNGUAN_AUDIT_CHECKPOINT_FILE": str(tmp_path / "no" / "cp.json")})
    [key] = [str(p) for p in key_problems(cfg)]
    assert key.startswith("identity.key_env") and key.endswith("(set by QUNGUAN_IDENTITY_KEY_ENV)"), key
    with pytest.raises(KeyProblems) as refused:
        vault_for(cfg)  # what serve says at start
    assert str(refused.value) == key
    [checkpoint] = [str(p) for p in file_problems(cfg)]
    assert checkpoint.endswith("(set by QUNGUAN_AUDIT_CHECKPOINT_FILE)"), checkpoint
    from_file = load_config(config, environ={"QG_TEST_NO_SUCH_KEY": ""})
    assert all("set by" not in str(p) for p in key_problems(from_file))


def test_a_binary_key_of_32_random_bytes_is_strong_whatever_its_first_and_last_bytes():
    """The length was counted after stripping white space: a random 32-byte key beginning or ending
    with a space byte (about one in twenty) was refused in production."""
    from server.security import strong_key

    assert strong_key(b" " + bytes(range(100, 130)) + b"\t")
    assert not strong_key(b" " * 10 + b"short" + b"\n")


def test_check_config_says_a_checkpoint_file_it_cannot_reach_rather_than_crash(tmp_path, capsys, monkeypatch):
    """A folder on the way the user may not enter made Path.is_dir raise PermissionError: check-config
    ended in a traceback (run as the service user against a locked folder; here the refusal is made
    to order, since root enters any folder)."""
    from pathlib import Path

    target = tmp_path / "locked" / "x.jsonl"
    real = Path.is_dir

    def refused(self: Path) -> bool:
        if self == target:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "is_dir", refused)
    config = tmp_path / "q.toml"
    config.write_text(f'[audit]\ncheckpoint_file = "{target}"\n', encoding="utf-8")
    assert check_config_main(config) == 2
    out = capsys.readouterr().out
    assert "audit.checkpoint_file" in out and "cannot be reached: Permission denied" in out, out


def test_a_sighup_during_the_start_is_held_and_reloads_once_started(tmp_path, monkeypatch):
    """``kill -HUP`` while the server was still starting (migrating, waiting for its broker) ended it
    by the signal's default action: the handler came only after the start. Now one is held from
    before the start, and the reload it asked runs once the server listens."""
    import asyncio
    import os
    import signal

    from server.app import App, run

    config = tmp_path / "q.toml"
    config.write_text("[server]\nport = 0\n", encoding="utf-8")
    cfg = load_config(config, environ={})
    real_start = App.start
    reloads: list[bool] = []

    async def start(self: App) -> None:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(0.05)  # (delivered meanwhile)
        await real_start(self)

    def reload(self: App) -> None:
        reloads.append(self._server is not None)  # (started: it listens)
        os.kill(os.getpid(), signal.SIGTERM)  # and so the server stops, status 0

    monkeypatch.setattr(App, "start", start)
    monkeypatch.setattr(App, "reload", reload)
    assert asyncio.run(run(cfg)) == 0
    assert reloads == [True]
