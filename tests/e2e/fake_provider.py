"""A fake SMS gateway / ID register: a real HTTPS service on 127.0.0.1 that checks signatures.

It implements the provider side of docs/providers.md: it refuses a request whose
``X-Qunguan-Signature`` is wrong or whose timestamp is more than five minutes off
(401), and answers the rest from a script the test sets (``plan``) or with its
default answer. Every request it received is kept in ``seen``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SECRET = b"test-shared-secret-0123456789abcdef"
MAX_SKEW_SECONDS = 300


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # JSON-encoded when not bytes
    delay: float = 0.0
    trickle: float = 0.0  # a pause before each byte of the body (each read well within a timeout)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    signature_ok: bool


@dataclass
class FakeProvider:
    dir: Path
    default: Answer = field(default_factory=Answer)
    plan: deque[Answer] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def secret_file(self) -> Path:
        return self.dir / "provider.secret"

    def start(self) -> FakeProvider:
        self.dir.mkdir(parents=True, exist_ok=True)
        _make_certs(self.dir)
        self.secret_file.write_bytes(SECRET + b"\n")
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ts = self.headers.get("X-Qunguan-Timestamp", "")
                rid = self.headers.get("X-Qunguan-Request-Id", "")
                expected = "v1=" + hmac.new(SECRET, f"{ts}.{rid}.".encode() + raw, hashlib.sha256).hexdigest()
                ok = (hmac.compare_digest(expected, self.headers.get("X-Qunguan-Signature", ""))
                      and ts.isdigit() and abs(time.time() - int(ts)) <= MAX_SKEW_SECONDS)
                fake.seen.append(Seen(self.path, dict(self.headers), json.loads(raw or b"{}"), ok))
                answer = Answer(401, {"error": "bad signature"}) if not ok else (
                    fake.plan.popleft() if fake.plan else fake.default)
                if answer.delay:
                    time.sleep(answer.delay)
                body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if answer.trickle:
                        for i in range(len(body)):
                            time.sleep(answer.trickle)
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                    else:
                        self.wfile.write(body)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.dir / "server.pem", self.dir / "server.key")
        self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def config(self, *, sms: bool = False, id_verifier: bool = False, trust: bool = True,
               timeout: float = 5.0, retries: int = 2) -> str:
        """The ``[identity]`` keys (appended to the harness's section) that point at this fake. The
        timeout bounds each whole attempt (a new TLS connection to this fake, in the test's process):
        tests of timing pass their own; at 1 s, the default until 2026-12-07, an attempt meant to
        succeed timed out under a full suite's load (``test_http_sms_retries_with_the_same_request_id_then_succeeds``
        failed once with "the SMS service is unavailable")."""
        lines = [f"provider_timeout_seconds = {timeout}", f"provider_retries = {retries}"]
        if trust:
            lines.append(f'provider_ca_file = "{self.ca_file}"')
        if sms:
            lines += ['sms_provider = "http"', f'sms_url = "{self.url}/sms"', f'sms_secret_file = "{self.secret_file}"']
        if id_verifier:
            lines += ['id_verifier = "http"', f'id_verifier_url = "{self.url}/id"',
                      f'id_verifier_secret_file = "{self.secret_file}"']
        return "\n".join(lines) + "\n"


def _make_certs(out: Path) -> None:
    """A throwaway CA and a certificate it signed for 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qunguan test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (out / "ca.pem").write_bytes(ca.public_bytes(pem))
    (out / "server.pem").write_bytes(cert.public_bytes(pem))
    (out / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
