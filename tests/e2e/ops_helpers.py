"""Helpers for the operations tests: servers with extra [server] keys, log lines, metrics, certificates."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.harness import ServerProcess


def server(tmp_path: Path, server_keys: str = "", extra: str = "", subdir: str = "srv",
           **fmt: Any) -> ServerProcess:
    """A (not yet started) server whose [server] table gets ``server_keys`` too, with JSON logs."""
    d = tmp_path / subdir
    d.mkdir(exist_ok=True)
    srv = ServerProcess(d, extra, **fmt)
    text = srv.config.read_text(encoding="utf-8")
    srv.config.write_text(text.replace("[server]\n", "[server]\nlog_json = true\n" + server_keys + "\n", 1),
                          encoding="utf-8")
    return srv


def json_lines(srv: ServerProcess) -> list[dict[str, Any]]:
    out = []
    for line in list(srv.output):
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def wait_for_log(srv: ServerProcess, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in json_lines(srv):
            if pred(entry):
                return entry
        time.sleep(0.05)
    raise AssertionError("no such log line; output:\n" + "".join(srv.output))


def access_lines(srv: ServerProcess) -> list[dict[str, Any]]:
    return [e for e in json_lines(srv) if e.get("logger") == "qunguan.access"]


# Below Linux's ephemeral range (32768-60999): a port the kernel hands out for bind(0) is handed out
# again at once for any outgoing connection (a client's, the database's), so one taken that way was
# in use again by the time the server bound it ("Address already in use", once in a CI run). Ports
# here are never given out by the kernel; drawn at random, two tests' draws meet rarely.
FREE_PORTS = range(20000, 32000)


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now, for a server's metrics or a test's own listener."""
    for _ in range(200):
        port = random.choice(FREE_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-31999")


def metrics_url(srv: ServerProcess, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(srv.output):
            if line.startswith("metrics on "):
                return line.split("metrics on ", 1)[1].strip()
        time.sleep(0.05)
    raise AssertionError("no metrics line; output:\n" + "".join(srv.output))


def scrape(url: str) -> dict[str, float]:
    """``name{labels}`` -> value of a Prometheus text page (labels as printed)."""
    text = httpx.get(url, timeout=5).text
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return values


def http_get(srv: ServerProcess, path: str, **kw: Any) -> httpx.Response:
    scheme = "https" if srv.url.startswith("wss") else "http"
    return httpx.get(f"{scheme}://127.0.0.1:{srv.port}{path}", timeout=5, **kw)


def self_signed(dirpath: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost with common name ``name``; (cert, key) files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = dirpath / "cert.pem", dirpath / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def job_last_run(srv: ServerProcess, job: str) -> int:
    """When background job ``job`` last finished a run (ms; 0: never), as the store records it."""
    rows = srv.db_rows("SELECT last_run FROM job_runs WHERE name = ?", job)
    return int(rows[0][0]) if rows else 0


async def until_job_ran(srv: ServerProcess, job: str, times: int = 1, timeout: float = 30.0) -> None:
    """Return once background job ``job`` has ended ``times`` more runs, counted from now. Each run is
    recorded in the store as it ends (server/intervals.py) and the runs follow one another: the first
    counted may have begun before this call, every further one began after it (``times=2``: a whole
    run since this call)."""
    deadline = time.monotonic() + timeout
    seen = job_last_run(srv, job)
    for _ in range(times):
        while (latest := job_last_run(srv, job)) <= seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"the {job} job did not run {times} times within {timeout} s")
            await asyncio.sleep(0.05)
        seen = latest
