"""The pieces of issue 14 that are pure functions: PROXY headers, X-Forwarded-For, env overrides, log lines,
sd_notify, which keys a reload applies, the example config."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import struct
import threading
from pathlib import Path

import pytest

from server import logs, sdnotify
from server.config import Config, ConfigError, load_config, warnings_of
from server.operations import DERIVED_KEYS, RESTART_KEYS, keep_named_operators, merge_restart_keys
from server.proxy import (
    V2_SIGNATURE,
    ProxyHeaderError,
    ProxyHeaderReader,
    forwarded_for,
    parse_networks,
    proxy_v1,
    proxy_v2,
)

ROOT = Path(__file__).resolve().parents[2]
TRUSTED = parse_networks(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])


# -- X-Forwarded-For --------------------------------------------------------------------
@pytest.mark.parametrize(("peer", "headers", "expected"), [
    ("127.0.0.1", ["203.0.113.9"], "203.0.113.9"),
    ("127.0.0.1", ["198.51.100.1, 203.0.113.9, 10.1.2.3"], "203.0.113.9"),  # rightmost untrusted
    ("127.0.0.1", ["198.51.100.1", "203.0.113.9"], "203.0.113.9"),  # repeated headers join in order
    ("127.0.0.1", ["10.0.0.5, 10.0.0.6"], "10.0.0.5"),  # all trusted: the leftmost we reached
    ("127.0.0.1", ["garbage, 203.0.113.9"], "203.0.113.9"),
    ("127.0.0.1", ["203.0.113.9, garbage"], "127.0.0.1"),  # a malformed hop stops the walk
    ("127.0.0.1", ["203.0.113.9:4711"], "203.0.113.9"),
    ("127.0.0.1", ["[2001:db8::1]:4711"], "2001:db8::1"),
    ("127.0.0.1", [""], "127.0.0.1"),
    ("192.0.2.7", ["203.0.113.9"], "192.0.2.7"),  # untrusted peer: ignored
    ("::ffff:127.0.0.1", ["203.0.113.9"], "203.0.113.9"),  # v4-mapped peer
])
def test_forwarded_for(peer, headers, expected):
    assert forwarded_for(peer, headers, TRUSTED) == expected


def test_nothing_is_trusted_by_default():
    assert forwarded_for("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"


# -- PROXY protocol ---------------------------------------------------------------------
@pytest.mark.parametrize("make", [proxy_v1, proxy_v2])
@pytest.mark.parametrize("src", ["203.0.113.50", "2001:db8::7"])
def test_proxy_header_byte_by_byte(make, src):
    dst = "::1" if ":" in src else "127.0.0.1"
    data = make(src, dst, 40000, 8765) + b"GET /ws HTTP/1.1\r\n"
    reader = ProxyHeaderReader()
    got = None
    for i in range(len(data)):
        got = reader.feed(data[i : i + 1])
        if got is not None:
            break
    assert got is not None
    assert got[0] == src
    rest = got[1] + data[i + 1 :]
    assert rest == b"GET /ws HTTP/1.1\r\n"


def test_proxy_headers_are_the_specs_bytes():
    """The encoder (used by the byte-by-byte test above) pinned to the HAProxy spec's layout, so a
    mistake the encoder and the parser share cannot pass unseen."""
    assert proxy_v1("203.0.113.50", "127.0.0.1", 40000, 8765) == b"PROXY TCP4 203.0.113.50 127.0.0.1 40000 8765\r\n"
    assert proxy_v1("2001:db8::7", "::1", 40000, 8765) == b"PROXY TCP6 2001:db8::7 ::1 40000 8765\r\n"
    assert proxy_v2("203.0.113.50", "127.0.0.1", 40000, 8765) == (
        b"\r\n\r\n\x00\r\nQUIT\n"  # signature
        b"\x21"  # version 2, PROXY
        b"\x11"  # TCP over IPv4
        b"\x00\x0c"  # 12 address bytes
        b"\xcb\x00\x71\x32\x7f\x00\x00\x01"  # 203.0.113.50, 127.0.0.1
        b"\x9c\x40\x22\x3d")  # 40000, 8765


def test_proxy_local_and_unknown_keep_the_peer():
    assert ProxyHeaderReader().feed(b"PROXY UNKNOWN\r\nGET") == (None, b"GET")
    local = V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    assert ProxyHeaderReader().feed(local + b"GET") == (None, b"GET")


@pytest.mark.parametrize("data", [
    b"GET /ws HTTP/1.1\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
    b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
    b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
    b"PROXY " + b"x" * 120,
    V2_SIGNATURE + bytes([0x11, 0x11]) + struct.pack("!H", 12) + bytes(12),  # version 1 in a v2 header
    V2_SIGNATURE + bytes([0x2F, 0x11]) + struct.pack("!H", 12) + bytes(12),  # unknown command
    V2_SIGNATURE + bytes([0x21, 0x31]) + struct.pack("!H", 4) + bytes(4),  # AF_UNIX
])
def test_proxy_header_garbage_is_refused(data):
    with pytest.raises(ProxyHeaderError):
        ProxyHeaderReader().feed(data)


# -- environment overrides -----------------------------------------------------------------
def test_environment_overrides(tmp_path):
    cfg_file = tmp_path / "q.toml"
    cfg_file.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\n[storage]\nurl = "sqlite:///a.db"\n')
    env = {
        "QUNGUAN_SERVER_PORT": "9100",
        "QUNGUAN_STORAGE_URL": "postgresql://qunguan:secret@db/qunguan",  # a secret kept out of the file
        "QUNGUAN_RATE_LIMITS_MESSAGE_BURST": "7",  # a section with an underscore
        "QUNGUAN_SERVER_TRUSTED_PROXIES": '["10.0.0.0/8"]',
        "QUNGUAN_SERVER_COMPRESSION": "true",
        "QUNGUAN_URL": "ws://elsewhere",  # the terminal client's variable: not config
        "PATH": "/bin",
    }
    cfg = load_config(cfg_file, env)
    assert cfg.server.port == 9100 and cfg.server.host == "0.0.0.0"
    assert cfg.storage.url == "postgresql://qunguan:secret@db/qunguan"
    assert cfg.rate_limits.message_burst == 7 and cfg.server.compression is True
    assert cfg.server.trusted_proxies == ("10.0.0.0/8",)
    assert load_config(None, {"QUNGUAN_SERVER_PORT": "9200"}).server.port == 9200


@pytest.mark.parametrize("from_file", [True, False])
def test_the_variable_named_by_key_env_is_the_key_not_a_setting(tmp_path, from_file):
    """docs/deploy.md and examples/compose.yaml keep the key in QUNGUAN_IDENTITY_KEY: a name
    of the QUNGUAN_<SECTION>_<KEY> form that is not a key of [identity]."""
    cfg_file = tmp_path / "q.toml"
    cfg_file.write_text('[identity]\nkey_env = "QUNGUAN_IDENTITY_KEY"\n' if from_file else "")
    env = {"QUNGUAN_IDENTITY_KEY": "ab" * 32, "QUNGUAN_IDENTITY_DEV_MODE": "false"}
    if not from_file:
        env["QUNGUAN_IDENTITY_KEY_ENV"] = "QUNGUAN_IDENTITY_KEY"
    cfg = load_config(cfg_file, env)
    assert cfg.identity.key_env == "QUNGUAN_IDENTITY_KEY" and cfg.identity.dev_mode is False
    with pytest.raises(ConfigError) as err:  # without key_env naming it, it is an unknown key as before
        load_config(None, {"QUNGUAN_IDENTITY_KEY": "ab" * 32})
    assert "did you mean 'key_env'" in str(err.value)


@pytest.mark.parametrize(("var", "value", "fragment"), [
    ("QUNGUAN_SERVER_PROT", "1", "did you mean 'port'"),
    ("QUNGUAN_SERVER_PORT", "many", "expected an integer"),
    ("QUNGUAN_SERVER_TRUSTED_PROXIES", '["not a net"]', "CIDR"),
])
def test_bad_environment_overrides_are_named(tmp_path, var, value, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(None, {var: value})
    assert fragment in str(err.value)


# -- config checks of the new keys ----------------------------------------------------------
def _parse(text: str, tmp_path: Path) -> Config:
    f = tmp_path / "c.toml"
    f.write_text(text)
    return load_config(f, {})


def test_tls_and_proxy_keys_are_checked(tmp_path):
    (tmp_path / "cert.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="tls_cert and tls_key go together"):
        _parse('[server]\ntls_cert = "cert.pem"\n', tmp_path)
    with pytest.raises(ConfigError, match="not a usable certificate"):
        _parse('[server]\ntls_cert = "cert.pem"\ntls_key = "cert.pem"\n', tmp_path)
    with pytest.raises(ConfigError, match="needs trusted_proxies"):
        _parse("[server]\nproxy_protocol = true\n", tmp_path)
    assert _parse("[metrics]\nport = 9300\n", tmp_path).metrics.port == 9300


def test_reload_keeps_restart_keys_and_names_them():
    old = Config()
    fresh = dataclasses.replace(old, server=dataclasses.replace(old.server, port=1, log_level="DEBUG"),
                                limits=dataclasses.replace(old.limits, max_members=42))
    merged, changed = merge_restart_keys(old, fresh)
    assert changed == ["server.port"]
    assert merged.server.port == old.server.port
    assert merged.server.log_level == "DEBUG" and merged.limits.max_members == 42


def test_a_reload_applies_the_account_limit_and_keeps_the_ipv6_prefix(tmp_path):
    """The per-account limit and its window follow a reload; the IPv6 prefix, under which every
    per-address count so far is kept, waits for a restart (which counts the last hour again)."""
    from server.app import App
    from server.config import parse_config
    from server.operations import apply_rate_limits

    app = App(parse_config({"rate_limits": {"ipv6_prefix_length": 56}}, tmp_path))
    old = app.cfg
    fresh = dataclasses.replace(old, rate_limits=dataclasses.replace(
        old.rate_limits, failed_logins_per_account=4, failed_logins_per_account_window_minutes=30,
        ipv6_prefix_length=48))
    app.cfg, changed = merge_restart_keys(old, fresh)
    apply_rate_limits(app)
    assert changed == ["rate_limits.ipv6_prefix_length"]
    assert (app.failed_logins_per_account.limit, app.failed_logins_per_account.window) == (4, 1800.0)
    assert app.connections_per_ip.ipv6_prefix == app.handshakes.ipv6_prefix == 56
    assert app.codes_per_ip.ipv6_prefix == app.failed_logins_per_ip.ipv6_prefix == 56


def test_a_kept_restart_key_keeps_what_the_config_derives_from_it(tmp_path):
    """storage.url keeps its running value until a restart, and so must storage.sqlite_file, which
    names the database the server has open (backup refuses to write over it)."""
    old = _parse('[storage]\nurl = "sqlite:///live.db"\n', tmp_path)
    fresh = _parse('[storage]\nurl = "sqlite:///other.db"\n', tmp_path)
    merged, changed = merge_restart_keys(old, fresh)
    assert changed == ["storage.url"]
    assert (merged.storage.url, merged.storage.sqlite_file) == ("sqlite:///live.db", tmp_path / "live.db")
    pg = _parse('[storage]\nurl = "postgresql://u@h/db"\n', tmp_path)
    merged, _ = merge_restart_keys(pg, fresh)
    assert (merged.storage.url, merged.storage.sqlite_file) == ("postgresql://u@h/db", None)
    for key, derived in DERIVED_KEYS.items():
        assert key in RESTART_KEYS
        for name in derived:
            section, field = name.split(".")
            assert hasattr(getattr(old, section), field), name


def test_a_reloads_warnings_are_of_the_config_it_runs(tmp_path):
    """The warnings are worked out again once the restart-only keys and the kept operators are put
    back (server/operations.py _reload): from the file alone, ``ping`` said the checksum verifier
    was gone while it still checked every ID, and that the socket was private while the kept
    operators kept it shared with its group."""
    old = dataclasses.replace(Config(), identity=dataclasses.replace(Config().identity, dev_mode=False,
                                                                     id_verifier="checksum", sms_provider="http"))
    old = dataclasses.replace(old, warnings=warnings_of(old))
    assert [w.key for w in old.warnings] == ["identity.id_verifier"]
    fresh = dataclasses.replace(old, identity=dataclasses.replace(old.identity, id_verifier="http"))
    assert warnings_of(fresh) == ()  # (the file alone)
    merged, changed = merge_restart_keys(old, fresh)
    assert "identity.id_verifier" in changed and [w.key for w in warnings_of(merged)] == ["identity.id_verifier"]

    named = _parse('[admin]\nsocket_group = "0"\n[[operators]]\nname = "alice"\nunix_user = "0"\n'
                   'role = "operator"\n', tmp_path)
    unnamed = _parse('[admin]\nsocket_group = "0"\n', tmp_path)
    assert [w.key for w in unnamed.warnings] == ["admin.socket_group"]
    kept, was_kept = keep_named_operators(named, unnamed)
    assert was_kept and warnings_of(kept) == ()


def test_every_restart_key_exists():
    cfg = Config()
    for key in RESTART_KEYS:
        section, name = key.split(".")
        assert hasattr(getattr(cfg, section), name), key


# -- logs --------------------------------------------------------------------------------
def test_json_log_line_carries_the_request_context():
    rec = logging.LogRecord("qunguan", logging.ERROR, __file__, 1, "internal error handling a request", (), None)
    rec.rid, rec.op, rec.user_id, rec.outcome = 7, "send", "u1", "internal"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys
        rec.exc_info = sys.exc_info()
    line = logs.JsonFormatter().format(rec)
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "ERROR" and out["msg"] == "internal error handling a request"
    assert (out["rid"], out["op"], out["user_id"], out["outcome"]) == (7, "send", "u1", "internal")
    assert "ValueError: boom" in out["exc"]
    plain = logs.PlainFormatter().format(rec)
    assert "rid=7 op=send user_id=u1 outcome=internal" in plain.splitlines()[0]


# -- sd_notify ---------------------------------------------------------------------------
def test_sd_notify_sends_to_the_notify_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        assert sdnotify.ready("listening on port 8765")
        assert sock.recv(1024) == b"READY=1\nSTATUS=listening on port 8765"
        assert sdnotify.reloading()
        got = sock.recv(1024).decode().split("\n")
        assert got[0] == "RELOADING=1" and got[1].startswith("MONOTONIC_USEC=")
        assert sdnotify.stopping()
        assert sock.recv(1024) == b"STOPPING=1"
    finally:
        sock.close()
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert sdnotify.ready() is False  # not under systemd: nothing to do


# -- the deployment kit ------------------------------------------------------------------
def test_example_config_names_every_key_and_is_valid(tmp_path):
    text = (ROOT / "examples" / "qunguan.toml").read_text(encoding="utf-8")
    missing = []
    for section in dataclasses.fields(Config):
        if not section.metadata:
            continue
        cls = next(iter(section.metadata.values()))
        for f in dataclasses.fields(cls):
            if not f.metadata:  # derived (storage.sqlite_file, operators.uid), not a key
                continue
            if f"\n{f.name} =" not in text and f"\n# {f.name} =" not in text \
                    and f"[[{section.name}.{f.name}]]" not in text:
                missing.append(f"{section.name}.{f.name}")
    assert not missing, f"examples/qunguan.toml does not mention: {missing}"
    # valid as shipped (the word list it names is optional: commented out)
    copy = tmp_path / "qunguan.toml"
    copy.write_text(text, encoding="utf-8")
    cfg = load_config(copy, {})
    assert cfg.server.port == 8765


def test_grafana_dashboard_draws_only_metrics_the_server_has():
    import re

    from server.metrics import METRICS

    exposed = set()
    for family in METRICS.registry.collect():
        for sample in family.samples:
            exposed.add(sample.name)
    # labelled families without a sample yet still count: their names are known
    exposed |= {name for name in METRICS.registry._names_to_collectors}  # noqa: SLF001
    dash = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    used = {m for p in dash["panels"] for t in p["targets"] for m in re.findall(r"qunguan_\w+", t["expr"])}
    assert used and used <= exposed, used - exposed
    documented = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for family in METRICS.registry.collect():
        assert f"`{family.name}" in documented, family.name



def test_metrics_endpoint_has_no_created_series():
    """/metrics serves the series docs/operations.md lists, and no ``*_created`` gauge beside each
    counter and histogram (prometheus_client's default)."""
    import urllib.request

    from server.metrics import Metrics

    m = Metrics()
    m.messages.inc()
    m.commit_seconds.observe(0.01)
    port = m.serve("127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode("utf-8")
    finally:
        m.stop()
    series = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert "qunguan_messages_total" in series and "qunguan_commit_seconds_count" in series
    assert not [s for s in series if s.endswith("_created")]

# -- operator CLI manners ------------------------------------------------------------------
def test_admin_without_a_command_lists_the_commands(capsys):
    from server.operator.channel import COMMANDS, load_commands
    from server.operator.cli import main

    assert main(None, []) == 2
    out = capsys.readouterr().out
    load_commands()
    for name in COMMANDS:
        assert f"\n    {name} " in out or f"\n    {name}\n" in out, name


def test_admin_errors_carry_one_prefix(capsys):
    from server.operator.cli import main

    assert main(None, ["backup"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "qunguan admin: backup: the following arguments are required: --out"


def _admin_config(tmp_path: Path, socket_path: str) -> str:
    cfg = tmp_path / "admin.toml"
    cfg.write_text(f'[admin]\nsocket = "{socket_path}"\n', encoding="utf-8")
    return str(cfg)


def test_admin_that_cannot_reach_a_server_says_so_in_one_line(tmp_path, capsys):
    """Every way of not reaching a server is exit 2 and one line, never a traceback: a socket path
    under a regular file (NotADirectoryError escaped as a traceback), a server that closes the
    connection without answering (a JSON error on the empty line escaped as one)."""
    from server.operator.cli import main

    (tmp_path / "plain").write_text("", encoding="utf-8")
    assert main(_admin_config(tmp_path, str(tmp_path / "plain" / "admin.sock")), ["ping"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qunguan admin: no server is running for this config") and err.count("\n") == 1, err

    path = tmp_path / "mute.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def hang_up() -> None:  # a server that stops while the command is on its way
        conn, _ = listener.accept()
        conn.recv(1 << 16)
        conn.close()

    mute = threading.Thread(target=hang_up, daemon=True)
    mute.start()
    try:
        assert main(_admin_config(tmp_path, str(path)), ["ping"]) == 2
    finally:
        mute.join(10)
        listener.close()
    err = capsys.readouterr().err
    assert err.startswith("qunguan admin: the server closed the connection without answering") and \
        err.count("\n") == 1, err


def test_a_rules_file_that_is_not_utf8_is_one_line_exit_2(tmp_path, capsys):
    """set-agreement reads its two files as UTF-8 before it sends them: a file in another encoding
    (GB 18030, UTF-16 from a word processor) ended in a UnicodeDecodeError traceback."""
    from server.operator.cli import main

    rules, agreement = tmp_path / "rules.txt", tmp_path / "agreement.txt"
    rules.write_bytes("群规".encode("utf-16"))
    agreement.write_text("协议", encoding="utf-8")
    args = ["set-agreement", "--version", "v2", "--rules-file", str(rules), "--agreement-file", str(agreement)]
    assert main(None, args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"qunguan admin: --rules-file {rules} is not UTF-8 text") and err.count("\n") == 1, err


def test_an_admin_socket_path_too_long_to_bind_is_a_config_problem(tmp_path, capsys):
    """The kernel binds a Unix socket to at most 107 bytes of path: a longer [admin] socket passed
    check-config, then stopped the server at start and made ``qunguan admin`` print a traceback
    (OSError: AF_UNIX path too long)."""
    from server.config import check_config_main
    from server.operator.cli import main

    long_path = str(tmp_path / ("s" * 120) / "admin.sock")
    cfg = _admin_config(tmp_path, long_path)
    assert check_config_main(cfg) == 2
    out = capsys.readouterr()
    assert "admin.socket" in out.out + out.err and "too long for a Unix socket" in out.out + out.err, out
    assert main(cfg, ["ping"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qunguan admin: config: admin.socket") and err.count("\n") == 1, err
    short = str(tmp_path / "admin.sock")
    assert len(short.encode()) <= 107
    load_config(_admin_config(tmp_path, short))  # (a path that fits is fine)


@pytest.mark.parametrize(("line", "spelled"), [
    ("closed until 1764392700000", True),                      # a time on its own
    ("window 1764392700000-1764396300000", True),              # two times joined by a dash
    ("filing-report.json: sha256 ab1764392700000cd", False),   # inside a hex digest
    ("sha256 1764392700000ffee", False),                       # a digest that starts with the digits
    ("sha256 ee1764392700000", False),                         # ... or ends with them
    ("group g_1764392700000", False),                          # inside an id
    ("offset 1764392700000.5", False),                         # a decimal, not a time
])
def test_outcome_lines_spell_only_standalone_epoch_ms(line: str, spelled: bool) -> None:
    """A printed outcome gains local times for 13-digit millisecond values, and leaves alone a digit run that
    is part of a word: a sha256 printed by filing-report or export was once mangled this way."""
    from server.operator.cli import _render

    out = _render(line, True)
    assert ("(1764392700000)" in out) is spelled
    assert (out == line) is not spelled


def test_a_checkpoint_file_line_with_a_malformed_mac_is_named_with_why(tmp_path, capsys):
    """verify-audit --checkpoint-file: a mac of any length was sent and compared ("differs"); now the
    line is skipped with its number and the reason, as the server skips it in its own file."""
    from server.operator.cli import _checkpoint_heads

    good = {"ts": 1, "count": 1, "last_id": 1, "mac": "ab" * 32}
    path = tmp_path / "kept.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in (good, {**good, "mac": "ab" * 8})))
    heads, why = _checkpoint_heads(str(path))
    assert (heads, why) == ([good], None)
    assert capsys.readouterr().err == (f"qunguan admin: --checkpoint-file {path} line 2 is not a checkpoint (the head "
                                       "mac must be 64 hex digits (0-9, a-f), not 16 characters); skipped\n")


async def test_readyz_names_every_reason_the_broker_first() -> None:
    """A cluster node that could not reach NATS said "store not probed yet" (the store check ran
    first, and stopped there); now every reason that holds is named, the broker's first."""
    from server.operations import Readiness

    async def fine() -> None:
        return None

    r = Readiness(fine)
    broker: list[str | None] = ["not connected to the cluster's broker (NATS)"]
    r.checks.append(lambda: broker[0])
    assert r.why_not() == "not connected to the cluster's broker (NATS); store not probed yet"
    await r.probe_once()
    assert r.why_not() == "not connected to the cluster's broker (NATS)"
    broker[0] = None
    assert r.why_not() is None
    r.stopping = True
    assert r.why_not() == "shutting down"


def test_a_nats_url_is_logged_without_its_credentials() -> None:
    from server.cluster.node import shown_url

    assert shown_url("nats://alice:s3cret@10.0.0.5:4222") == "nats://alice@10.0.0.5:4222"
    assert shown_url("tls://T0KEN@nats.example:4443") == "tls://***@nats.example:4443"
    assert shown_url("nats://ab/cd+ef==@nats.internal:4222") == "nats://***@nats.internal:4222"
    assert shown_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"


@pytest.mark.parametrize(("value", "shown"), [
    ("going away", '"going away"'),                      # a space would read as two fields
    ("x\n2026 ERROR qunguan.record forged", '"x\\n2026 ERROR qunguan.record forged"'),  # no line of its own
    ('a="b"', '"a=\\"b\\""'),
    ("\u9b54\u6cd5", "\u9b54\u6cd5"),                    # plain text stays as it is
    ("c\x9bd\u2028e", '"c\\u009bd\\u2028e"'),            # C1 controls and line separators escaped
    (1001, "1001"),
])
def test_plain_log_values_cannot_forge_lines_or_fields(value, shown):
    """A close reason is the client's text: in the plain log it is one field on one line."""
    rec = logging.LogRecord("qunguan.access", logging.INFO, __file__, 1, "connection closed\nforged", (), None)
    rec.reason = value
    [line] = logs.PlainFormatter().format(rec).splitlines()
    assert line.endswith(" connection closed\\nforged reason=" + shown), line


def test_heads_sent_ahead_expire_are_bounded_and_are_taken_once(monkeypatch):
    """verify-audit's heads kept ahead of the check (server/record.py, StagedHeads): a token not added to
    for ten minutes is gone (its CLI gave up), the heads of all tokens together are bounded (past it the
    token is dropped, nothing half kept), and a token's heads are handed over once."""
    from governance.audit import Checkpoint
    from server import record

    now = [0.0]
    staged = record.StagedHeads(clock=lambda: now[0])
    head = Checkpoint(1, 1, 1, "0" * 64)
    assert staged.add("a", [head]) == 1 and staged.add("a", [head, head]) == 3
    assert staged.take("a") == [head] * 3 and staged.take("a") == []
    staged.add("b", [head])
    now[0] += record.STAGED_SECONDS + 1
    assert staged.take("b") == []
    staged.add("c", [head])
    now[0] += record.STAGED_SECONDS + 1
    staged.add("d", [head])  # (adding drops what expired)
    assert list(staged.by_token) == ["d"]
    staged.add("x", [head])
    now[0] += record.STAGED_SECONDS + 1
    staged.add("d", [head])
    assert staged.take("y") == [] and list(staged.by_token) == ["d"]  # (and taking: x left behind)
    staged.take("d")
    staged.add("d", [head])
    monkeypatch.setattr(record, "STAGED_HEADS_MAX", 3)
    monkeypatch.setattr(record, "STAGED_HEADS_PER_OPERATOR", 3)
    staged.add("e", [head])
    with pytest.raises(ValueError, match="more than 3 record heads"):
        staged.add("e", [head, head])
    assert staged.take("e") == [] and staged.take("d") == [head]
    # Each operator's room is their own, and so are their tokens (a review of the operator channel:
    # one operator could fill the room and make everyone else's check fail for ten minutes).
    monkeypatch.setattr(record, "STAGED_HEADS_MAX", 8)
    assert staged.add("f", [head] * 3, "张执法") == 3
    with pytest.raises(ValueError, match="more than 3 record heads"):  # (张执法's share)
        staged.add("f2", [head], "张执法")
    assert staged.add("g", [head] * 3, "李执法") == 3  # (not refused: 张执法's heads are not hers)
    with pytest.raises(ValueError, match="another operator's"):
        staged.add("f", [head], "李执法")
    with pytest.raises(ValueError, match="more than 8 record heads"):  # (all of them: 3 + 3 held)
        staged.add("h", [head] * 3, "王执法")
    assert staged.take("f", "李执法") == [] and staged.take("f", "张执法") == [head] * 3


async def test_a_long_start_asks_systemd_for_more_time(tmp_path, monkeypatch):
    """An upgrade's migration longer than the unit's TimeoutStartSec was killed and rolled back at
    every restart (an upgrade reviewer's find): while the store opens, the server extends the start."""
    import asyncio

    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        async with sdnotify.extending("migrating", every=0.05, by=30):
            await asyncio.sleep(0.18)
        got = []
        while True:
            try:
                got.append(sock.recv(1024))
            except BlockingIOError:
                break
        assert 2 <= len(got) <= 4 and set(got) == {b"EXTEND_TIMEOUT_USEC=30000000\nSTATUS=migrating"}, got
        async with sdnotify.extending("quick", every=1.0):
            pass  # a quick body sends nothing
        with pytest.raises(BlockingIOError):
            sock.recv(1024)
    finally:
        sock.close()
