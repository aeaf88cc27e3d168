"""Outside providers over signed JSON-over-HTTPS: the SMS gateway and the ID verifier (Art. 6).

Every request is a ``POST`` of a JSON object, signed with a secret shared with the
provider (docs/providers.md has the exact wire format a provider implements):

- ``X-Qunguan-Timestamp``: Unix seconds when the request was signed;
- ``X-Qunguan-Request-Id``: 32 hex digits, the same on every retry of one request;
- ``X-Qunguan-Signature``: ``v1=`` and the lowercase hex HMAC-SHA256, keyed with the
  shared secret, of ``TIMESTAMP + "." + REQUEST_ID + "." + BODY`` (the body's exact bytes).

TLS certificates are always verified (the system's CA bundle, or
``identity.provider_ca_file``). A connection error, a timeout, a 429 or a 5xx is
retried ``identity.provider_retries`` times with doubling backoff; any other
answer is final. A provider that cannot give a clear answer is never taken for
a success: the client gets ``internal`` with a readable reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import certifi

from protocol.errors import ContractError

if TYPE_CHECKING:  # httpx is imported on first use: most servers (the file providers) never load it
    import httpx

    from server.config import IdentityConfig

log = logging.getLogger("qunguan.providers")

SIGNATURE_HEADER = "X-Qunguan-Signature"
TIMESTAMP_HEADER = "X-Qunguan-Timestamp"
REQUEST_ID_HEADER = "X-Qunguan-Request-Id"
FIRST_BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 5.0
MIN_SECRET_BYTES = 16

NO_MATCH = "the legal name and ID number do not match the identity register"


def sign(secret: bytes, timestamp: int, request_id: str, body: bytes) -> str:
    """The ``X-Qunguan-Signature`` value for one request."""
    mac = hmac.new(secret, f"{timestamp}.{request_id}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def read_secret(path: Path) -> bytes:
    """The shared secret: the file's bytes without surrounding whitespace."""
    secret = path.read_bytes().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"{path}: a shared secret needs at least {MIN_SECRET_BYTES} bytes")
    return secret


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Certificate and host-name verification on; trust ``ca_file`` or certifi's bundle."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else certifi.where())


class ProviderDown(Exception):
    """No clear answer from the provider after every attempt. ``maybe_taken``: some attempt may have
    reached it and been acted on (no answer in time, a connection lost after the request went);
    False when every attempt was refused before it (no connection) or answered 429 or 5xx."""

    def __init__(self, why: str, maybe_taken: bool) -> None:
        super().__init__(why)
        self.maybe_taken = maybe_taken


class NotTaken(ContractError):
    """``internal``: the provider surely did not act on the request (it refused it, or none reached it),
    so what was counted for it may be given back (``request_code``'s limits)."""


class SignedPoster:
    """POSTs signed JSON to one URL, retrying what may succeed on a second try."""

    def __init__(self, name: str, url: str, secret: bytes, timeout: float, retries: int,
                 ca_file: Path | None) -> None:
        self.name = name
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.retries = retries
        self._tls = tls_context(ca_file)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # made on first use, inside the running loop
            import httpx

            self._client = httpx.AsyncClient(verify=self._tls, timeout=self.timeout, follow_redirects=False)
        return self._client

    async def post(self, payload: dict[str, Any]) -> httpx.Response:
        """The provider's final answer (2xx or a 4xx other than 429); ``ProviderDown`` otherwise."""
        import httpx

        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        request_id = secrets.token_hex(16)
        why = "no attempt was made"
        maybe_taken = False
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(backoff_seconds(attempt))
            ts = int(time.time())
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(ts),
                REQUEST_ID_HEADER: request_id,
                SIGNATURE_HEADER: sign(self.secret, ts, request_id, body),
            }
            try:
                # (httpx's own timeout bounds each read, and a trickling answer restarts it with
                # every chunk: the attempt as a whole is bounded here)
                async with asyncio.timeout(self.timeout):
                    resp = await self._http().post(self.url, content=body, headers=headers)
            except (httpx.TimeoutException, TimeoutError) as exc:
                why = f"no answer within {self.timeout:g} s"
                # (a connect timeout sent nothing; a read timeout may have been after the provider acted)
                maybe_taken = maybe_taken or not isinstance(exc, httpx.ConnectTimeout)
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                maybe_taken = maybe_taken or not isinstance(exc, httpx.ConnectError)
            else:
                if resp.status_code == 429 or resp.status_code >= 500:
                    why = f"HTTP {resp.status_code}"
                elif 300 <= resp.status_code < 400:
                    raise ProviderDown(f"{self.name}: HTTP {resp.status_code} (redirects are not followed)",
                                       maybe_taken)
                else:
                    return resp
            log.warning("%s: attempt %d of %d failed: %s", self.name, attempt + 1, self.retries + 1, why)
        raise ProviderDown(f"{self.name}: {why} after {self.retries + 1} attempt(s)", maybe_taken)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


# -- the ID verifier -------------------------------------------------------------------


class IdVerifier(Protocol):
    async def verify(self, legal_name: str, id_number: str) -> None:
        """Return when the register holds this name with this number; raise ContractError otherwise."""

    async def aclose(self) -> None: ...


class ChecksumOnly:
    """``id_verifier = "checksum"``: the handler's format, check-digit and birth-date check is all."""

    async def verify(self, legal_name: str, id_number: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


class HttpIdVerifier:
    """``id_verifier = "http"``: asks the provider whether the name and the number belong together.

    Request ``{"legal_name": ..., "id_number": ...}``; a 200 answer
    ``{"result": "match"}`` passes, ``{"result": "no_match"}`` is ``bad_request``;
    anything else (another status, another body, no answer) is ``internal``.
    """

    def __init__(self, poster: SignedPoster) -> None:
        self.poster = poster

    async def verify(self, legal_name: str, id_number: str) -> None:
        try:
            resp = await self.poster.post({"legal_name": legal_name, "id_number": id_number})
        except ProviderDown as exc:
            log.error("identity verification unavailable: %s", exc)
            raise ContractError("internal", "the identity verification service is unavailable; try again later") \
                from None
        result = _json_field(resp, "result") if resp.status_code == 200 else None
        if result == "match":
            return None
        if result == "no_match":
            raise ContractError("bad_request", NO_MATCH)
        # Not the body: a provider's error page may echo the name or the number.
        log.error("identity verification: unexpected answer HTTP %d (%d bytes of %s)", resp.status_code,
                  len(resp.content), resp.headers.get("content-type", "no content type"))
        raise ContractError("internal", "the identity verification service gave an answer the server cannot use; "
                                        "try again later")

    async def aclose(self) -> None:
        await self.poster.aclose()


def _json_field(resp: httpx.Response, name: str) -> object:
    try:
        data = resp.json()
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None


# -- the SMS gateway -------------------------------------------------------------------


class HttpSms:
    """``sms_provider = "http"``: request ``{"phone": ..., "code": ..., "ts": ms}``; any 2xx means accepted."""

    def __init__(self, poster: SignedPoster) -> None:
        self.poster = poster

    async def send(self, phone: str, code: str, ts_ms: int) -> None:
        try:
            resp = await self.poster.post({"phone": phone, "code": code, "ts": ts_ms})
        except ProviderDown as exc:
            log.error("SMS not sent: %s", exc)
            raise (ContractError if exc.maybe_taken else NotTaken)(
                "internal", "the SMS service is unavailable; no code was sent; try again later") from None
        if not 200 <= resp.status_code < 300:
            log.error("SMS refused by the provider: HTTP %d (%d bytes)", resp.status_code, len(resp.content))
            raise NotTaken("internal", "the SMS service refused the message; no code was sent")

    async def aclose(self) -> None:
        await self.poster.aclose()


def backoff_seconds(attempt: int) -> float:
    """The pause before retry ``attempt`` (1, 2, ...): doubling from FIRST_BACKOFF_SECONDS, at most
    MAX_BACKOFF_SECONDS."""
    return float(min(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))


def longest_wait_seconds(ident: IdentityConfig) -> float:
    """How long one call to an HTTP provider (SMS or ID verifier) may take at most before it gives
    up: each attempt's ``provider_timeout_seconds`` and the backoffs between them (a request that
    calls one waits this long for its answer; a gateway waits for the home as long, and a little
    more, before it answers ``internal``)."""
    backoffs = sum(backoff_seconds(attempt) for attempt in range(1, ident.provider_retries + 1))
    return float(ident.provider_timeout_seconds * (ident.provider_retries + 1) + backoffs)


def sms_wait_seconds(ident: IdentityConfig) -> float:
    """How long sending a code may take: an HTTP provider's longest wait, nothing for the console or
    the file outbox (written at once)."""
    return longest_wait_seconds(ident) if ident.sms_provider == "http" else 0.0


def id_check_wait_seconds(ident: IdentityConfig) -> float:
    """How long checking an ID number may take: the HTTP verifier's longest wait, nothing for the
    checksum alone."""
    return longest_wait_seconds(ident) if ident.id_verifier == "http" else 0.0


def _poster(name: str, url: str, secret_file: Path | None, ident: IdentityConfig) -> SignedPoster:
    if not url or secret_file is None:  # check-config refuses this; a clear message if it slips through
        raise ValueError(f"identity: the {name} needs a url and a secret file")
    return SignedPoster(name, url, read_secret(secret_file), ident.provider_timeout_seconds,
                        ident.provider_retries, ident.provider_ca_file)


def make_id_verifier(ident: IdentityConfig) -> IdVerifier:
    if ident.id_verifier == "http":
        return HttpIdVerifier(_poster("ID verifier", ident.id_verifier_url, ident.id_verifier_secret_file, ident))
    return ChecksumOnly()


def make_http_sms(ident: IdentityConfig) -> HttpSms:
    return HttpSms(_poster("SMS provider", ident.sms_url, ident.sms_secret_file, ident))
