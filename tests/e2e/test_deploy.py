"""The deployment kit: the systemd unit and its readiness protocol, the container image, the compose file."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e import ops_helpers as ops

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def test_systemd_unit_is_valid_and_has_the_production_options(tmp_path):
    unit = (EXAMPLES / "qunguan.service").read_text(encoding="utf-8")
    for option in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "LimitNOFILE=", "User=qunguan",
                   "NoNewPrivileges=true", "ProtectSystem=strict", "CapabilityBoundingSet=",
                   "SystemCallFilter=@system-service", "StateDirectory=qunguan"):
        assert option in unit, option
    # Documentation= names a page the install steps in docs/deploy.md put there
    doc = Path(next(ln for ln in unit.splitlines() if ln.startswith("Documentation=")).split("file://", 1)[1])
    steps = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert (ROOT / "docs" / doc.name).is_file() and f"-t {doc.parent} docs/*.md" in steps
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here; the unit's options were checked as text only")
    local = tmp_path / "qunguan.service"
    local.write_text(unit.replace("/opt/qunguan/bin/qunguan", sys.executable), encoding="utf-8")
    out = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=60)
    problems = [ln for ln in (out.stdout + out.stderr).splitlines() if "qunguan.service" in ln]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr


STOP_ALLOWANCE = 30  # seconds after the drain: close every connection (2 s close timeout each) and commit


def _seconds(value: str) -> float:
    """A systemd or compose duration ("330", "330s", "5min 30s", "1m30s") in seconds."""
    import re

    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value.strip())
    assert parts and "".join(n + u for n, u in parts) == re.sub(r"\s+", "", value.strip()), value
    return sum(float(n) * units[u] for n, u in parts)


def test_systemd_waits_longer_than_the_longest_drain_the_config_allows(tmp_path):
    """systemd kills a service still running ``TimeoutStopSec`` after SIGTERM: that must outlast the
    longest ``[server] shutdown_grace_seconds`` the config accepts, plus the time to close, or a
    graceful drain configured within the limits would end in SIGKILL."""
    import re

    from server.config import MAX_SHUTDOWN_GRACE_SECONDS, ConfigError, parse_config

    parse_config({"server": {"shutdown_grace_seconds": MAX_SHUTDOWN_GRACE_SECONDS}}, tmp_path)
    with pytest.raises(ConfigError):  # the constant is the config's real bound
        parse_config({"server": {"shutdown_grace_seconds": MAX_SHUTDOWN_GRACE_SECONDS + 0.5}}, tmp_path)
    unit = (EXAMPLES / "qunguan.service").read_text(encoding="utf-8")
    found = re.findall(r"^TimeoutStopSec=(.+)$", unit, re.M)
    assert found, "no TimeoutStopSec: systemd's default (90 s) is shorter than the longest drain"
    assert _seconds(found[-1]) >= MAX_SHUTDOWN_GRACE_SECONDS + STOP_ALLOWANCE, found[-1]


def _compose() -> dict:
    import yaml

    return yaml.safe_load((EXAMPLES / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_publishes_only_the_proxy_so_qunguan_scales(tmp_path):
    """``docker compose up --scale qunguan=3`` cannot start a second replica that publishes a fixed
    host port: only the proxy publishes one, and it sends to every replica of the service."""
    from server.config import parse_config

    services = _compose()["services"]
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"proxy"}, published
    qunguan, proxy = services["qunguan"], services["proxy"]
    assert "container_name" not in qunguan  # a fixed name stops --scale too
    assert {str(p) for p in qunguan.get("expose", [])} >= {"8765"}
    [port] = proxy["ports"]
    assert str(port).endswith(":80")
    [mount] = [v for v in proxy["volumes"] if "/etc/nginx/" in v]
    conf = (EXAMPLES / mount.split(":")[0]).read_text(encoding="utf-8")
    assert "listen 80;" in conf and "http://qunguan:8765" in conf
    assert "resolver 127.0.0.11" in conf  # replicas added later are looked up again, not once at start
    # qunguan believes the proxy's X-Forwarded-For (the value is read as TOML, as the server reads it)
    import tomllib

    trusted = tomllib.loads("v = " + qunguan["environment"]["QUNGUAN_SERVER_TRUSTED_PROXIES"])["v"]
    parse_config({"server": {"trusted_proxies": trusted}}, tmp_path)
    # stopping a replica leaves it its drain: compose waits longer than the image's grace
    env = qunguan["environment"]
    grace = env.get("QUNGUAN_SERVER_SHUTDOWN_GRACE_SECONDS") or next(
        ln.split("QUNGUAN_SERVER_SHUTDOWN_GRACE_SECONDS=", 1)[1].split()[0]
        for ln in (EXAMPLES / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if "QUNGUAN_SERVER_SHUTDOWN_GRACE_SECONDS=" in ln)
    assert _seconds(str(qunguan["stop_grace_period"])) >= float(grace) + STOP_ALLOWANCE


def _forwarded_host(conf: str, browser_host: str) -> str:
    """What nginx puts in the Host header it sends to qunguan, for a browser's ``Host``."""
    import re

    [value] = re.findall(r"^\s*proxy_set_header\s+Host\s+(\S+);", conf, re.M)
    variables = {"$http_host": browser_host, "$host": browser_host.rsplit(":", 1)[0]}
    assert value in variables, f"proxy_set_header Host {value}: a value this test does not know"
    return variables[value]


@pytest.mark.parametrize("name", ["nginx.conf", "compose-nginx.conf"])
def test_nginx_forwards_the_host_with_its_port_so_the_origin_check_passes(name):
    """The server lets a browser's WebSocket in when its Origin names the Host the request came to
    (server/web/routes.py: origin_allowed). Behind nginx that Host is what nginx forwards: with
    ``$host`` the port is gone and a site served on :8443 is refused with 403."""
    from server.web.routes import origin_allowed

    conf = (EXAMPLES / name).read_text(encoding="utf-8")
    for origin, host in (("https://chat.example.com:8443", "chat.example.com:8443"),
                         ("https://chat.example.com", "chat.example.com"),
                         ("http://127.0.0.1:8765", "127.0.0.1:8765")):
        assert origin_allowed(origin, _forwarded_host(conf, host), ()), (name, origin)
    # and it still refuses a page of another port or host
    assert not origin_allowed("https://chat.example.com:9000", _forwarded_host(conf, "chat.example.com:8443"), ())
    assert not origin_allowed("https://evil.example", _forwarded_host(conf, "chat.example.com"), ())


def test_named_operators_reach_the_socket_through_the_units_runtime_directory():
    """With [[operators]] (docs/operator.md: ``socket = "/run/qunguan/admin.sock"``, ``socket_group =
    "qunguan-ops"``) the socket is 0660 for the operators' group, but it sits in the unit's
    RuntimeDirectory, owned by the service user and group: at 0750 no operator outside the group
    ``qunguan`` could pass through it to the socket ("not allowed to open"). The directory lets
    everyone through and the socket's own mode (0600, or 0660 for the operators' group) decides.
    As root, this is shown with a real directory, socket and unprivileged process."""
    import re
    import tempfile

    unit = (EXAMPLES / "qunguan.service").read_text(encoding="utf-8")
    found = re.search(r"^RuntimeDirectoryMode=(\d+)$", unit, re.M)
    mode = int(found[1], 8) if found else 0o755  # (systemd's default)
    assert mode & 0o001, f"RuntimeDirectoryMode={mode:04o}: only the service's own group reaches the socket"
    assert not mode & 0o002, "anyone could replace the socket"
    if os.geteuid() != 0:
        return
    outsider, operators_group = 65534, 65533  # nobody, and a group of which the service user is no member
    top = Path(tempfile.mkdtemp(prefix="qunguan-run-"))
    try:
        top.chmod(0o711)
        run = top / "qunguan"
        run.mkdir()
        run.chmod(mode)  # owned by root here, by qunguan:qunguan under systemd: the outsider is neither
        path = run / "admin.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(1)
        os.chown(path, -1, operators_group)
        path.chmod(0o660)  # as server/operator/channel.py leaves it with [[operators]]

        pid = os.fork()
        if pid == 0:  # the operator: another user, in the socket's group only
            code = 1
            try:
                os.setgroups([operators_group])
                os.setgid(outsider)
                os.setuid(outsider)
                socket.socket(socket.AF_UNIX).connect(str(path))
                code = 0
            except PermissionError:
                code = 13
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        listener.close()
        assert os.waitstatus_to_exitcode(status) == 0, "the operator could not open the socket (EACCES)"
    finally:
        shutil.rmtree(top)


def test_sd_notify_ready_reloading_stopping(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(20)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    srv = ops.server(tmp_path)
    try:
        srv.start()
        ready = sock.recv(4096).decode()
        assert ready.startswith("READY=1") and f"port {srv.port}" in ready
        srv.proc.send_signal(signal.SIGHUP)
        assert sock.recv(4096).decode().startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert sock.recv(4096).decode().startswith("READY=1")
        srv.proc.send_signal(signal.SIGTERM)
        assert sock.recv(4096) == b"STOPPING=1"
        assert srv.proc.wait(10) == 0
    finally:
        sock.close()
        srv.stop()
        print("".join(srv.output))


async def test_a_start_waiting_on_its_migrations_asks_systemd_for_more_time(tmp_path, monkeypatch):
    """``serve`` itself, not only the helper, extends its start while the store opens: here its
    migrations wait for another node's (the lock of a migration held by this test) for more than the
    10 s between two asks, then it starts and says READY."""
    import asyncio

    import asyncpg

    from server.storage.postgres_changes import LOCK_MIGRATE
    from tests import pgtools
    from tests.e2e.harness import ServerProcess

    if pgtools.unavailable() is not None:
        pytest.skip(str(pgtools.unavailable()))
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(25)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    srv = ServerProcess(tmp_path, backend="postgresql")
    other_node = await asyncpg.connect(srv.pg_url)
    try:
        await other_node.execute("SELECT pg_advisory_lock($1, 0)", LOCK_MIGRATE)
        starting = asyncio.create_task(asyncio.to_thread(srv.start))
        asked = (await asyncio.to_thread(sock.recv, 4096)).decode()
        why = "opening the store (an upgrade's migrations may take a while)"
        assert asked == f"EXTEND_TIMEOUT_USEC=30000000\nSTATUS={why}"
        assert not starting.done()
        await other_node.execute("SELECT pg_advisory_unlock($1, 0)", LOCK_MIGRATE)
        await starting
        assert (await asyncio.to_thread(sock.recv, 4096)).decode().startswith("READY=1")
    finally:
        await other_node.close()
        sock.close()
        srv.stop()
        srv.cleanup()


def _docker_usable() -> str | None:
    """None when a docker daemon answers, else why not."""
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not installed on this machine"
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return f"no docker daemon is reachable: {(info.stderr or info.stdout).strip().splitlines()[-1]}"
    return None


@pytest.mark.skipif(os.environ.get("QUNGUAN_SKIP_DOCKER") == "1", reason="QUNGUAN_SKIP_DOCKER=1")
def test_container_builds_and_answers_health():
    why = _docker_usable()
    if why is not None:
        pytest.skip(why)
    base = next(ln.split()[1] for ln in (EXAMPLES / "Dockerfile").read_text().splitlines() if ln.startswith("FROM"))
    pull = subprocess.run(["docker", "pull", base], capture_output=True, text=True, timeout=600)
    if pull.returncode != 0:
        pytest.skip(f"the base image {base} cannot be pulled here (no registry access): {pull.stderr.strip()[-200:]}")
    tag = "qunguan-test:latest"
    build = subprocess.run(["docker", "build", "-f", str(EXAMPLES / "Dockerfile"), "-t", tag, str(ROOT)],
                           capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    check = subprocess.run(["docker", "run", "--rm", tag, "check-config", "/etc/qunguan/qunguan.toml"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "OK" in check.stdout, check.stdout + check.stderr
    run = subprocess.run(["docker", "run", "-d", "--rm", "-p", "127.0.0.1::8765", tag],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    container = run.stdout.strip()
    try:
        port = subprocess.run(["docker", "port", container, "8765/tcp"], capture_output=True, text=True,
                              timeout=30).stdout.split(":")[-1].strip()
        ready = None
        for _ in range(60):  # the image's own HEALTHCHECK asks /readyz; so does this
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    ready = answer.status
                    break
            except OSError:
                time.sleep(0.5)
        assert ready == 200, subprocess.run(["docker", "logs", container], capture_output=True, text=True).stderr
    finally:
        subprocess.run(["docker", "stop", "-t", "5", container], capture_output=True, timeout=60)


def _written_paths(cfg) -> dict[str, Path]:
    """Every file or folder the server writes, by key: the SQLite database and each path key with a
    default (``[identity] sms_outbox``, ``[media] path``, ``[admin] socket``, ...; the paths without
    one name files the server only reads: word lists, certificates, secrets)."""
    from dataclasses import fields

    from server.config import _SECTION, _SETTING, PATH, REQUIRED

    out = {"storage.url": cfg.storage.sqlite_file}
    for section in fields(cfg):
        if _SECTION not in section.metadata:
            continue
        for f in fields(getattr(cfg, section.name)):
            meta = f.metadata.get(_SETTING)
            if meta is not None and meta.kind is PATH and meta.default is not REQUIRED:
                out[f"{section.name}.{f.name}"] = getattr(getattr(cfg, section.name), f.name)
    assert {"identity.sms_outbox", "media.path", "admin.socket", "audit.checkpoint_file"} <= set(out), out
    return out


def _image_env() -> dict[str, str]:
    """The ``ENV`` of examples/Dockerfile's final stage."""
    import shlex

    text = (EXAMPLES / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    final = text.rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:]))
    return env


def test_the_image_writes_only_to_its_volume_and_runtime_folder(tmp_path, monkeypatch):
    """The image ships the example config read-only in /etc/qunguan (owned by root) and runs as uid
    10001: every path the server writes must come, through the image's ENV, into the volume or the
    runtime folder. ``[media] path`` did not (it stayed ``media`` beside the config: every upload
    failed with an internal error)."""
    from server.config import load_config

    etc = tmp_path / "etc" / "qunguan"
    etc.mkdir(parents=True)
    shutil.copy(EXAMPLES / "qunguan.toml", etc / "qunguan.toml")
    env = _image_env()
    assert env, "no ENV in examples/Dockerfile"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = load_config(etc / "qunguan.toml")
    writable = (Path("/var/lib/qunguan"), Path("/run/qunguan"))
    outside = {key: str(path) for key, path in _written_paths(cfg).items()
               if not any(path.is_relative_to(folder) for folder in writable)}
    assert not outside, f"the image writes outside /var/lib/qunguan and /run/qunguan: {outside}"


def test_deploy_doc_points_every_written_path_at_the_state_directory():
    """Under the unit (ProtectSystem=strict) the config's folder is read-only: docs/deploy.md's
    systemd steps name every key that writes a file, so that the operator points it elsewhere."""
    from server.config import load_config

    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    para = doc.split("In `/etc/qunguan/qunguan.toml` point the writable files", 1)[1].split("\n\n", 1)[0]
    para = " ".join(para.split())
    missing = [key for key in _written_paths(load_config(EXAMPLES / "qunguan.toml"))
               if "[{}] {}".format(*key.split(".")) not in para]
    assert not missing, f"docs/deploy.md's systemd steps do not name {missing}"


def test_compose_file_names_the_four_services():
    text = (EXAMPLES / "compose.yaml").read_text(encoding="utf-8")
    assert set(_compose()["services"]) == {"qunguan", "postgres", "nats", "proxy"}
    assert "QUNGUAN_STORAGE_URL: postgresql://" in text and "dockerfile: examples/Dockerfile" in text
    assert "POSTGRES_PASSWORD:?" in text and "QUNGUAN_IDENTITY_KEY:?" in text  # secrets from the environment only
