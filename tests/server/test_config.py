"""server.config: defaults, a full file, every kind of mistake, and robustness."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.tiers import (
    DEFAULT_ACTIVITY_CLASSES,
    DEFAULT_CREDIT_LEVELS,
    DEFAULT_SIZE_CLASSES,
    ActivityClass,
    Caps,
    CreditLevel,
    SizeClass,
)
from server.config import (
    Config,
    ConfigError,
    Problem,
    WordListConfig,
    check_config_main,
    load_config,
    parse_config,
)


def problems_of(data: dict, base_dir: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir)
    return info.value.problems


# --------------------------------------------------------------------------- defaults


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None)
    assert cfg.base_dir == tmp_path
    assert cfg.source is None
    s = cfg.server
    assert (s.host, s.port, s.max_frame_bytes, s.auth_timeout_seconds) == ("127.0.0.1", 8765, 1048576, 10.0)
    assert (s.max_outbox_bytes, s.compression, s.log_level, s.log_json) == (1048576, False, "INFO", False)
    assert cfg.storage.url == "sqlite:///qunguan.db"
    assert cfg.storage.sqlite_path() == tmp_path / "qunguan.db"
    lim = cfg.limits
    assert (lim.max_members, lim.max_groups_created, lim.max_groups_joined, lim.max_admins) == (500, 10, 500, 10)
    assert lim.max_text_chars == 4000
    assert lim.caps == Caps(500, 10, 500, 10)
    r = cfg.rate_limits
    assert (r.messages_per_second, r.message_burst) == (5.0, 20)
    assert (r.code_requests_per_phone_per_hour, r.code_requests_per_ip_per_hour) == (5, 100)
    assert (r.failed_logins_per_ip_per_hour, r.connections_per_ip_per_minute) == (30, 120)
    assert (r.failed_logins_per_account, r.failed_logins_per_account_window_minutes) == (10, 15)
    assert r.ipv6_prefix_length == 64
    g = cfg.groups
    assert g.categories == (
        "family", "friends", "work", "study", "interest", "business", "public_affairs", "other"
    )
    assert g.info_page_min_members == 100
    assert g.size_classes == DEFAULT_SIZE_CLASSES
    assert g.activity_classes == DEFAULT_ACTIVITY_CLASSES
    assert g.activity_window_days == 7
    assert (cfg.retention.days, cfg.retention.purge_interval_seconds) == (190, 3600)
    i = cfg.identity
    assert (i.sms_provider, i.sms_outbox) == ("console", tmp_path / "sms.jsonl")
    assert (i.id_verifier, i.id_verifier_url) == ("checksum", "")
    assert (i.require_id_to_post, i.require_id_to_create, i.max_accounts_per_id) == (False, True, 1)
    assert (i.token_ttl_seconds, i.argon2_time_cost, i.argon2_memory_kib) == (2592000, 3, 65536)
    assert (i.key_file, i.key_env) == (None, "")
    assert (cfg.credit.initial_score, cfg.credit.levels) == (100, DEFAULT_CREDIT_LEVELS)
    assert cfg.content.lists == ()


def test_empty_dict_matches_dataclass_defaults_apart_from_paths(tmp_path):
    cfg = parse_config({}, Path("."))
    assert cfg == Config()


# --------------------------------------------------------------------------- a full file

FULL = """
[server]
host = "0.0.0.0"
port = 0
max_frame_bytes = 2048
auth_timeout_seconds = 3
max_outbox_bytes = 65536
compression = true
log_level = "DEBUG"
log_json = true

[storage]
url = "postgresql://chat@db/qunguan"

[limits]
max_members = 200
max_groups_created = 3
max_groups_joined = 50
max_admins = 5
max_text_chars = 1000

[rate_limits]
messages_per_second = 0
message_burst = 0
code_requests_per_phone_per_hour = 1
code_requests_per_ip_per_hour = 2
failed_logins_per_ip_per_hour = 3
connections_per_ip_per_minute = 4

[groups]
categories = ["family", "work_2"]
info_page_min_members = 50
activity_window_days = 14

[[groups.size_classes]]
name = "small"
min_members = 0

[[groups.size_classes]]
name = "big"
min_members = 150
require_id = true
min_credit_level = 2

[[groups.activity_classes]]
name = "quiet"
min_messages_per_day = 0

[[groups.activity_classes]]
name = "loud"
min_messages_per_day = 12.5

[retention]
days = 184
purge_interval_seconds = 60

[identity]
sms_provider = "file"
sms_outbox = "out/sms.jsonl"
id_verifier = "http"
id_verifier_url = "https://id.example/verify"
id_verifier_secret_file = "id.secret"
require_id_to_post = true
require_id_to_create = false
max_accounts_per_id = 2
token_ttl_seconds = 60
argon2_time_cost = 1
argon2_memory_kib = 1024
key_file = "secret.key"
key_env = "QUNGUAN_KEY"

[credit]
initial_score = 80

[[credit.levels]]
min_score = 0
max_groups_created = 0
max_groups_joined = 5
max_admins = 1

[[credit.levels]]
min_score = 100
max_members = 1000
max_groups_joined = 9
max_admins = 2

[[content.lists]]
category = "gambling"
path = "words/gambling.txt"
action = "block"

[[content.lists]]
category = "rumour_fraud"
path = "/ABS/rumours.txt"
action = "flag"
"""


def write_full(tmp_path: Path) -> Path:
    (tmp_path / "words").mkdir()
    (tmp_path / "words" / "gambling.txt").write_text("赌博\n", encoding="utf-8")
    (tmp_path / "rumours.txt").write_text("谣言\n", encoding="utf-8")
    (tmp_path / "id.secret").write_text("a shared secret of 32 bytes.....\n", encoding="utf-8")
    (tmp_path / "secret.key").write_text("11" * 32 + "\n", encoding="utf-8")  # (check-config reads it as serve does)
    path = tmp_path / "qunguan.toml"
    path.write_text(FULL.replace("/ABS", str(tmp_path)), encoding="utf-8")
    return path


def test_full_file_round_trips(tmp_path):
    path = write_full(tmp_path)
    cfg = load_config(path)
    assert cfg.source == path and cfg.base_dir == tmp_path
    s = cfg.server
    assert (s.host, s.port, s.max_frame_bytes, s.max_outbox_bytes) == ("0.0.0.0", 0, 2048, 65536)
    assert s.auth_timeout_seconds == 3.0 and isinstance(s.auth_timeout_seconds, float)
    assert (s.compression, s.log_level, s.log_json) == (True, "DEBUG", True)
    assert cfg.storage.url == "postgresql://chat@db/qunguan"
    assert cfg.storage.sqlite_path() is None
    assert cfg.limits.caps == Caps(200, 3, 50, 5)
    assert cfg.limits.max_text_chars == 1000
    r = cfg.rate_limits
    assert (r.messages_per_second, r.message_burst, r.code_requests_per_phone_per_hour) == (0.0, 0, 1)
    assert (r.code_requests_per_ip_per_hour, r.failed_logins_per_ip_per_hour) == (2, 3)
    assert r.connections_per_ip_per_minute == 4
    g = cfg.groups
    assert g.categories == ("family", "work_2")
    assert (g.info_page_min_members, g.activity_window_days) == (50, 14)
    assert g.size_classes == (SizeClass("small", 0), SizeClass("big", 150, True, 2))
    assert g.activity_classes == (ActivityClass("quiet", 0.0), ActivityClass("loud", 12.5))
    assert (cfg.retention.days, cfg.retention.purge_interval_seconds) == (184, 60)
    i = cfg.identity
    assert (i.sms_provider, i.sms_outbox) == ("file", tmp_path / "out" / "sms.jsonl")
    assert (i.id_verifier, i.id_verifier_url) == ("http", "https://id.example/verify")
    assert i.id_verifier_secret_file == tmp_path / "id.secret"
    assert (i.require_id_to_post, i.require_id_to_create, i.max_accounts_per_id) == (True, False, 2)
    assert (i.token_ttl_seconds, i.argon2_time_cost, i.argon2_memory_kib) == (60, 1, 1024)
    assert (i.key_file, i.key_env) == (tmp_path / "secret.key", "QUNGUAN_KEY")
    assert cfg.credit.initial_score == 80
    assert cfg.credit.levels == (
        CreditLevel(0, max_groups_created=0, max_groups_joined=5, max_admins=1),
        CreditLevel(100, max_members=1000, max_groups_joined=9, max_admins=2),
    )
    assert cfg.content.lists == (
        WordListConfig(category="gambling", path=tmp_path / "words" / "gambling.txt", action="block"),
        WordListConfig(category="rumour_fraud", path=tmp_path / "rumours.txt", action="flag"),
    )
    assert check_config_main(path) == 0


# --------------------------------------------------------------------------- one mistake each

SIX_MONTHS = "six months"

BAD = [
    # (data, key, fragment of why)
    ({"limits": {"max_member": 600}}, "limits.max_member", "did you mean 'max_members'"),
    ({"server": {"prot": 1}}, "server.prot", "did you mean 'port'"),
    ({"server": {"zzz": 1}}, "server.zzz", "unknown key"),
    ({"serverr": {}}, "serverr", "did you mean 'server'"),
    ({"nonsense": 1}, "nonsense", "outside any section"),
    ({"port": 1}, "port", "did you mean [server] port or [metrics] port?"),
    ({"server": 5}, "server", "expected a table"),
    ({"server": {"port": "8765"}}, "server.port", "expected an integer, got a string"),
    ({"server": {"port": True}}, "server.port", "expected an integer, got a boolean"),
    ({"server": {"port": 1.0}}, "server.port", "expected an integer, got a float"),
    ({"server": {"port": 70000}}, "server.port", "between 0 and 65535"),
    ({"server": {"compression": 1}}, "server.compression", "expected a boolean"),
    ({"server": {"auth_timeout_seconds": 0}}, "server.auth_timeout_seconds", "greater than 0"),
    ({"server": {"auth_timeout_seconds": False}}, "server.auth_timeout_seconds", "got a boolean"),
    ({"server": {"auth_timeout_seconds": float("nan")}}, "server.auth_timeout_seconds", "finite"),
    ({"server": {"log_level": "info"}}, "server.log_level", "must be one of"),
    ({"server": {"max_frame_bytes": 1023}}, "server.max_frame_bytes", "at least 1024"),
    ({"server": {"max_outbox_bytes": 100}}, "server.max_outbox_bytes", "at least 65536"),
    ({"storage": {"url": "mysql://x/y"}}, "storage.url", "must start with sqlite:///"),
    ({"storage": {"url": "sqlite://x.db"}}, "storage.url", "must start with sqlite:///"),
    ({"storage": {"url": "sqlite:///"}}, "storage.url", "no database file"),
    ({"limits": {"max_members": 1}}, "limits.max_members", "at least 2"),
    ({"limits": {"max_admins": -1}}, "limits.max_admins", "at least 0"),
    ({"rate_limits": {"message_burst": -1}}, "rate_limits.message_burst", "at least 0"),
    ({"retention": {"days": 183}}, "retention.days", SIX_MONTHS),
    ({"retention": {"purge_interval_seconds": 59}}, "retention.purge_interval_seconds", "at least 60"),
    ({"groups": {"categories": []}}, "groups.categories", "must not be empty"),
    ({"groups": {"categories": ["a", "a"]}}, "groups.categories[1]", "unique"),
    ({"groups": {"categories": ["Family"]}}, "groups.categories[0]", "a-z"),
    ({"groups": {"categories": ["ok", 7]}}, "groups.categories[1]", "expected a string"),
    ({"groups": {"categories": "family"}}, "groups.categories", "expected an array of strings"),
    (
        {"groups": {"size_classes": [{"name": "a", "min_members": 10}, {"name": "b", "min_members": 10}]}},
        "groups.size_classes[1].min_members",
        "ascending",
    ),
    (
        {"groups": {"size_classes": [{"name": "a", "min_members": 0}, {"name": "a", "min_members": 10}]}},
        "groups.size_classes[1].name",
        "unique",
    ),
    ({"groups": {"size_classes": [{"name": "a"}]}}, "groups.size_classes[0].min_members", "required"),
    ({"groups": {"size_classes": {"name": "a"}}}, "groups.size_classes", "expected an array of tables"),
    ({"groups": {"size_classes": [3]}}, "groups.size_classes[0]", "expected a table"),
    (
        {"groups": {"activity_classes": [{"name": "a", "min_messages_per_day": 5},
                                         {"name": "b", "min_messages_per_day": 1}]}},
        "groups.activity_classes[1].min_messages_per_day",
        "ascending",
    ),
    (
        {"public_accounts": {"subscriber_classes": [{"name": "a", "min_subscribers": 0},
                                                    {"name": "b", "min_subscribers": 0}]}},
        "public_accounts.subscriber_classes[1].min_subscribers",
        "ascending",
    ),
    ({"public_accounts": {"read_classes": []}}, "public_accounts.read_classes", "must not be empty"),
    ({"public_accounts": {"read_classes": [{"name": "x", "min_reads": -1}]}},
     "public_accounts.read_classes[0].min_reads", "at least 0"),
    ({"public_accounts": {"read_classes": [{"min_reads": 0}]}}, "public_accounts.read_classes[0].name", "required"),
    # An account below the first threshold would be in no class (and left out of the filing report's counts).
    ({"public_accounts": {"subscriber_classes": [{"name": "big", "min_subscribers": 1000}]}},
     "public_accounts.subscriber_classes[0].min_subscribers", "must be 0"),
    ({"public_accounts": {"read_classes": [{"name": "read", "min_reads": 10}, {"name": "hot", "min_reads": 100}]}},
     "public_accounts.read_classes[0].min_reads", "must be 0"),
    ({"media": {"max_bytes_per_user": -1}}, "media.max_bytes_per_user", "at least 0"),
    ({"media": {"max_bytes_per_user": "1G"}}, "media.max_bytes_per_user", "expected an integer"),
    # A quota below the largest file would refuse files max_bytes allows, whatever the user stored.
    ({"media": {"max_bytes": 2000, "max_bytes_per_user": 1999}}, "media.max_bytes_per_user", "at least max_bytes"),
    ({"rate_limits": {"ipv6_prefix_length": 31}}, "rate_limits.ipv6_prefix_length", "between 32 and 128"),
    ({"rate_limits": {"ipv6_prefix_length": 129}}, "rate_limits.ipv6_prefix_length", "between 32 and 128"),
    ({"rate_limits": {"failed_logins_per_account": -1}}, "rate_limits.failed_logins_per_account", "at least 0"),
    ({"rate_limits": {"failed_logins_per_account_window_minutes": 0}},
     "rate_limits.failed_logins_per_account_window_minutes", "between 1 and 1440"),
    ({"identity": {"sms_provider": "twilio"}}, "identity.sms_provider", "must be one of"),
    ({"identity": {"id_verifier": "http", "id_verifier_url": "https://id.example/v"}},
     "identity.id_verifier_secret_file", "required when"),
    ({"identity": {"id_verifier_url": "http://id.example/v"}}, "identity.id_verifier_url", "https://"),
    ({"identity": {"argon2_memory_kib": 512}}, "identity.argon2_memory_kib", "between 1024"),
    ({"identity": {"argon2_time_cost": 21}}, "identity.argon2_time_cost", "between 1 and 20"),
    ({"identity": {"key_env": "NOT A NAME"}}, "identity.key_env", "environment variable"),
    ({"identity": {"sms_outbox": 1}}, "identity.sms_outbox", "expected a string"),
    ({"credit": {"levels": []}}, "credit.levels", "must not be empty"),
    (
        {"credit": {"levels": [{"min_score": 50}, {"min_score": 10}]}},
        "credit.levels[1].min_score",
        "ascending",
    ),
    ({"credit": {"levels": [{"min_score": 0, "max_members": 1}]}}, "credit.levels[0].max_members", "at least 2"),
    ({"credit": {"levels": [{"min_score": 0, "max_admin": 1}]}}, "credit.levels[0].max_admin", "'max_admins'"),
    (
        {"content": {"lists": [{"category": "x", "path": "w.txt", "action": "ban"}]}},
        "content.lists[0].action",
        "must be one of 'block', 'review', 'flag'",
    ),
    (
        {"content": {"lists": [{"category": "x", "path": "missing.txt", "action": "block"}]}},
        "content.lists[0].path",
        "file not found",
    ),
    (
        {"content": {"lists": [{"category": "x", "path": ".", "action": "block"}]}},
        "content.lists[0].path",
        "directory",
    ),
    ({"content": {"lists": [{"category": "", "path": "w.txt", "action": "flag"}]}}, "content.lists[0].category",
     "empty"),
    ({"content": {"lists": [{"path": "w.txt", "action": "flag"}]}}, "content.lists[0].category", "required"),
]


@pytest.mark.parametrize(("data", "key", "why"), BAD, ids=[case[1] + ":" + case[2] for case in BAD])
def test_bad_value_is_reported(tmp_path, data, key, why):
    (tmp_path / "w.txt").write_text("x\n", encoding="utf-8")
    found = problems_of(data, tmp_path)
    assert [p.key for p in found] == [key], found
    assert why in found[0].why


def test_retention_reason_names_article_13_and_184_days(tmp_path):
    (problem,) = problems_of({"retention": {"days": 183}}, tmp_path)
    assert problem.value == 183
    assert "Art. 13" in problem.why and "six months" in problem.why and "184" in problem.why
    assert parse_config({"retention": {"days": 184}}, tmp_path).retention.days == 184


def test_int_is_accepted_for_float(tmp_path):
    cfg = parse_config({"rate_limits": {"messages_per_second": 2}}, tmp_path)
    assert cfg.rate_limits.messages_per_second == 2.0
    assert isinstance(cfg.rate_limits.messages_per_second, float)


def test_all_problems_reported_at_once(tmp_path):
    data = {
        "server": {"port": -1, "log_level": "LOUD"},
        "limits": {"max_member": 3},
        "retention": {"days": 30},
        "storage": {"url": "redis://"},
        "extra": {},
    }
    keys = {p.key for p in problems_of(data, tmp_path)}
    assert keys == {
        "server.port", "server.log_level", "limits.max_member", "retention.days", "storage.url", "extra",
    }


def test_problem_str_and_error_message():
    p = Problem("limits.max_members", 1, "must be at least 2")
    assert str(p) == "limits.max_members = 1: must be at least 2"
    err = ConfigError([p, Problem("server.port", "x", "expected an integer")])
    assert str(err).splitlines() == [str(p), "server.port = 'x': expected an integer"]



@pytest.mark.parametrize(("key", "value", "shown"), [
    # the ops reviewer's cases: a typo'd key, a wrong scheme, a key given where its env var's name goes
    ("storage.urll", "postgresql://qg:hunter2secret@h/db", "storage.urll = 'postgresql://qg@h/db': x"),
    ("storage.url", "mysql://qg:hunter2secret@h/db", "storage.url = 'mysql://qg@h/db': x"),
    ("identity.key", "c2VjcmV0LWtleS1ieXRlcw==", "identity.key = <hidden>: x"),
    ("providers.sms_api_token", "tok-123", "providers.sms_api_token = <hidden>: x"),
    ("providers.sms_secret", "s", "providers.sms_secret = <hidden>: x"),
    ("server.tls_key", "/etc/q/key.pem", "server.tls_key = '/etc/q/key.pem': x"),  # a path
    ("identity.key_file", "/etc/q/id.key", "identity.key_file = '/etc/q/id.key': x"),
    ("storage.url", "sqlite:///q.db", "storage.url = 'sqlite:///q.db': x"),
    # (the diff review's: a NATS cluster's list, a token in the user info, a query, an @ in a password)
    ("cluster.broker_url", "nats://u:hunter2a@h1,nats://u:hunter2b@h2",
     "cluster.broker_url = 'nats://u@h1,nats://u@h2': x"),
    ("cluster.broker_url", "nats://hunter2token@h1:4222", "cluster.broker_url = 'nats://***@h1:4222': x"),
    ("identity.sms_url", "https://h/send?token=hunter2", "identity.sms_url = 'https://h/send?...': x"),
    ("storage.url", "postgresql://qg@h/db?password=hunter2", "storage.url = 'postgresql://qg@h/db?...': x"),
    ("storage.url", "postgresql://qg:hun@ter2@h/db", "storage.url = 'postgresql://qg@h/db': x"),
    # (the config review's: a raw /, ? or # in a password used to end the user info, shown whole)
    ("storage.url", "postgresql://qg:Ab/hunter2@db:5432/q", "storage.url = 'postgresql://qg@db:5432/q': x"),
    ("storage.url", "postgresql://qg:Ab?hunter2@db/q", "storage.url = 'postgresql://qg@***': x"),
    ("storage.url", "postgresql://qg:Ab#hunter2@db/q", "storage.url = 'postgresql://qg@***': x"),
    ("cluster.broker_url", "nats://u:s/hunter2@h1:4222", "cluster.broker_url = 'nats://u@h1:4222': x"),
    ("storage.url", "postgresql://qg@h/db?password=a@hunter2", "storage.url = 'postgresql://***@***': x"),
    ("storage.url", "postgresql://qg:ab,hunter2@h1:5432,h2/db", "storage.url = 'postgresql://qg@h1:5432,h2/db': x"),
])
def test_a_problem_line_shows_no_secret(key, value, shown):
    assert str(Problem(key, value, "x")) == shown
    assert "hunter2" not in str(ConfigError([Problem(key, value, "x")]))


@pytest.mark.parametrize("url", ["postgresql://qg:Ab/cd@db:5432/q", "postgres://qg:Ab?cd@db/q",
                                 "postgresql://qg:Ab#cd@db/q", "postgresql://qg:Ab[cd@db/q"])
def test_a_reserved_character_left_raw_in_a_password_is_refused_without_showing_it(tmp_path, url):
    """The driver cuts the server part at the first /, ? or #: a raw one in the password left a server
    whose port was part of the password, which check-config passed and serve quoted as it failed."""
    with pytest.raises(ConfigError) as refused:
        parse_config({"storage": {"url": url}}, tmp_path)
    said = str(refused.value)
    assert "percent-encoded (%2F, %3F, %23, %40)" in said and "Ab" not in said, said
    for fine in ("postgresql://qg:Ab%2Fcd@db:5432,db2/q", "postgresql:///q?host=/var/run/postgresql",
                 "postgresql://qg@[::1]:5432/q"):
        assert parse_config({"storage": {"url": fine}}, tmp_path).storage.url == fine


# --------------------------------------------------------------------------- sqlite paths


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///q.db", "BASE/q.db"),
        ("sqlite:///data/q.db", "BASE/data/q.db"),
        ("sqlite:////var/lib/q.db", "/var/lib/q.db"),
        ("postgresql://u@h/db", None),
        ("postgres://u@h/db", None),
    ],
)
def test_sqlite_path(tmp_path, url, expected):
    storage = parse_config({"storage": {"url": url}}, tmp_path).storage
    want = None if expected is None else Path(expected.replace("BASE", str(tmp_path)))
    assert storage.sqlite_path() == want == storage.sqlite_file


def test_relative_paths_follow_the_config_file(tmp_path, monkeypatch):
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "q.toml").write_text('[storage]\nurl = "sqlite:///db/q.db"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("etc/q.toml")
    assert cfg.base_dir == conf_dir
    assert cfg.storage.sqlite_path() == conf_dir / "db" / "q.db"
    assert cfg.identity.sms_outbox == conf_dir / "sms.jsonl"


# --------------------------------------------------------------------------- files and CLI


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    (problem,) = info.value.problems
    assert problem.key == "" and "nope.toml" in str(problem) and "not found" in problem.why


def test_toml_syntax_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[server\nport = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem.key == "" and "not valid TOML" in problem.why


def test_not_utf8(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(b'host = "\xff"\n')
    with pytest.raises(ConfigError):
        load_config(path)


def test_check_config_main_bad_file(tmp_path, capsys):
    path = tmp_path / "q.toml"
    path.write_text(
        "[server]\nport = true\n[limits]\nmax_member = 5\n[retention]\ndays = 100\n", encoding="utf-8"
    )
    assert check_config_main(path) == 2
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for key, line in zip(["server.port", "limits.max_member", "retention.days"], lines, strict=True):
        assert line.startswith(key + " = ")
    assert "did you mean 'max_members'" in lines[1]


def test_check_config_main_good_file(tmp_path, capsys):
    path = write_full(tmp_path)
    assert check_config_main(str(path)) == 0
    assert capsys.readouterr().out.strip() == f"OK: {path}"


def test_check_config_refuses_identity_keys_serve_cannot_read_and_creates_no_file(tmp_path, capsys, monkeypatch):
    """serve reads the identity keys at start and stops (exit 2) when it cannot: check-config, run
    before it (ExecStartPre), says so too, naming each key, and makes no key file of its own."""
    monkeypatch.delenv("QG_NO_SUCH_KEY", raising=False)
    (tmp_path / "a-dir").mkdir()
    cases = {
        'key_file = "missing.key"': ["identity.key_file", "missing.key", "cannot read"],
        'key_file = "a-dir"': ["identity.key_file", "a-dir"],
        'key_env = "QG_NO_SUCH_KEY"': ["identity.key_env", "QG_NO_SUCH_KEY"],
        'old_key_files = ["gone-1.key", "gone-2.key"]': ["identity.old_key_files", "gone-1.key", "gone-2.key"],
        "dev_mode = false": ["identity.dev_mode = false"],
    }
    for i, (keys, expected) in enumerate(cases.items()):
        path = tmp_path / f"c{i}.toml"
        path.write_text(f"[identity]\n{keys}\n", encoding="utf-8")
        assert check_config_main(path) == 2, keys
        out = capsys.readouterr().out
        for text in expected:
            assert text in out, (keys, out)
    assert not (tmp_path / "identity.key").exists()  # (dev_mode's key file is made by serve, not here)
    good = tmp_path / "good.toml"
    good.write_text('[identity]\nkey_env = "QG_NO_SUCH_KEY"\n', encoding="utf-8")
    monkeypatch.setenv("QG_NO_SUCH_KEY", "a key")
    assert check_config_main(good) == 0
    good.write_text("[identity]\n", encoding="utf-8")  # dev_mode: serve makes the key at its first start
    assert check_config_main(good) == 0 and not (tmp_path / "identity.key").exists()
    (tmp_path / "identity.key").mkdir()  # one that is there is read as serve reads it
    assert check_config_main(good) == 2 and "identity.key" in capsys.readouterr().out


def test_check_config_main_missing_file(tmp_path, capsys):
    assert check_config_main(tmp_path / "nope.toml") == 2
    assert "nope.toml" in capsys.readouterr().out


def test_docs_example_is_valid(tmp_path):
    """The complete example in docs/config.md parses (word lists created on the fly)."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "config.md"
    text = doc.read_text(encoding="utf-8")
    start = text.index("```toml\n", text.index("## Complete example")) + len("```toml\n")
    example = text[start : text.index("```", start)]
    data = tomllib.loads(example)
    for item in data.get("content", {}).get("lists", []):
        word_list = tmp_path / item["path"]
        word_list.parent.mkdir(parents=True, exist_ok=True)
        word_list.write_text("x\n", encoding="utf-8")
    parse_config(data, tmp_path)


# --------------------------------------------------------------------------- never crashes


def _all_keys() -> list[str]:
    from server import config as mod

    names = set()
    skip = ("base_dir", "source", "operators", "warnings", "env_sources")
    sections = [f.default_factory for f in fields(mod.Config) if f.name not in skip]
    for cls in (mod.Config, mod.OperatorConfig, *sections):
        names.update(f.name for f in fields(cls))
    names.update(["lists", "levels", "size_classes", "name", "min_members", "min_score", "category", "path", "action"])
    return sorted(names)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["sqlite:///x.db", "sqlite:////tmp/x.db", "postgres://h/d", "http", "block", "/", "", "\x00", "a" * 5000]
    ),
    st.datetimes(),
    st.dates(),
    st.times(),
    st.just(dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
)
keys = st.one_of(st.sampled_from(_all_keys()), st.text(max_size=10))
toml_like = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.dictionaries(keys, toml_like, max_size=6), toml_like))
def test_parse_never_raises_anything_but_config_error(tmp_path, data):
    try:
        cfg = parse_config(data, tmp_path)
    except ConfigError as exc:
        assert exc.problems
        assert all(isinstance(p, Problem) and isinstance(p.key, str) for p in exc.problems)
        str(exc)
    else:
        assert isinstance(cfg, Config)


def test_media_quota_is_off_at_0_and_may_equal_the_largest_file(tmp_path):
    assert parse_config({}, tmp_path).media.max_bytes_per_user == 1024 ** 3
    for quota in (0, 2000, 10 ** 12):
        cfg = parse_config({"media": {"max_bytes": 2000, "max_bytes_per_user": quota}}, tmp_path)
        assert cfg.media.max_bytes_per_user == quota


@pytest.mark.parametrize("where", ["/", "missing.pem"])
def test_a_ca_file_that_cannot_be_read_is_a_config_error(tmp_path: Path, where: str) -> None:
    """Hypothesis found ``provider_ca_file`` naming a directory or no file raised OSError from the
    check itself (a traceback at ``check-config``) instead of a problem with the key."""
    with pytest.raises(ConfigError) as info:
        parse_config({"identity": {"provider_ca_file": where}}, tmp_path)
    assert [p.key for p in info.value.problems] == ["identity.provider_ca_file"], info.value.problems


@pytest.mark.parametrize(("urls", "warned"), [
    ("nats://10.0.0.5:4222", ["nats://10.0.0.5:4222"]),
    ("nats://u:p@10.0.0.5:4222,tls://nats.internal:4443", ["tls://nats.internal:4443"]),
    ("nats://T0KEN@nats.internal:4222", []),
    ("nats://127.0.0.1:4222,nats://localhost:4223,nats://[::1]:4224", []),
    ("nats://u:pa[ss@h:4222", []),  # (credentials; a [ no parser takes for a host: warned of nothing, no traceback)
])
def test_a_broker_off_this_machine_without_credentials_is_warned_about(tmp_path, urls, warned):
    """What crosses the broker (clients' passwords and codes, identity numbers, operator commands) is
    open to whoever can reach it: a broker elsewhere named without a user or token is said."""
    cfg = parse_config({"storage": {"url": "postgresql://u@h/db"}, "cluster": {"broker_url": urls}}, tmp_path)
    said = [w for w in cfg.warnings if w.key == "cluster.broker_url"]
    assert [w.value for w in said] == warned
    assert all("user and subject permissions" in str(w) for w in said)
