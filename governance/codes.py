"""SMS verification codes: 6 digits, single use, valid ``ttl`` seconds (contract: 5 minutes).

A code is kept as a MAC of (phone key, code), never as itself, so the server can write the
outstanding ones to its store (a restart, or another node taking over, keeps them valid)
without storing a six-digit secret anyone reading the database could try against a phone.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from governance.names import bad_field

Mac = Callable[[str, str], bytes]  # (phone key, code) -> MAC
DIGITS = 6


def given_code(raw: str) -> str:
    """The code a ``register`` or ``reset_password`` gives, spaces around it dropped (a pasted one):
    ``bad_request`` (**[ext]** ``field: "code"``) unless it is then six ASCII digits, decided before
    the code is tried, so a typing slip uses up none of its guesses."""
    code = raw.strip()
    if not (len(code) == DIGITS and code.isascii() and code.isdigit()):
        raise bad_field("code", f"code must be the {DIGITS} digits sent by SMS")
    return code


def plain_mac(phone_key: str, code: str) -> bytes:
    """A keyless digest, for tests and tools; the server passes a MAC under its lookup key."""
    return hashlib.sha256(f"{phone_key}\0{code}".encode("utf-8", "replace")).digest()


@dataclass(slots=True)
class _Pending:
    mac: bytes
    expires_at: float
    failures: int = 0


class CodeBook:
    """Outstanding codes keyed by normalised phone; wrong guesses void a code after ``max_attempts``."""

    def __init__(self, ttl: float = 300.0, max_attempts: int = 5, mac: Mac = plain_mac) -> None:
        self.ttl = float(ttl)
        self.max_attempts = max(1, int(max_attempts))
        self.mac = mac
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def issue(self, phone_key: str, now: float, randbelow: Callable[[int], int]) -> str:
        """A new code for ``phone_key``, replacing any earlier one. Pass ``secrets.randbelow``."""
        code = str(randbelow(10**DIGITS)).zfill(DIGITS)
        self._pending[phone_key] = _Pending(self.mac(phone_key, code), now + self.ttl)
        return code

    def pending(self, phone_key: str) -> tuple[bytes, float] | None:
        """(MAC, expiry) of the code outstanding for ``phone_key``: what a store keeps of it."""
        p = self._pending.get(phone_key)
        return (p.mac, p.expires_at) if p is not None else None

    def restore(self, phone_key: str, mac: bytes, expires_at: float) -> None:
        """A code issued before (by this process or another), read back from the store."""
        self._pending[phone_key] = _Pending(mac, expires_at)

    def consume(self, phone_key: str, code: str, now: float) -> bool:
        """Whether ``code`` is the one outstanding for ``phone_key``; if so it is used up."""
        if self.check(phone_key, code, now):
            del self._pending[phone_key]
            return True
        return False

    def check(self, phone_key: str, code: str, now: float) -> bool:
        """Whether ``code`` is the one outstanding for ``phone_key``, which stays outstanding: an
        op can prove the phone first and use the code up (:meth:`consume`) once nothing else can
        refuse it. A wrong code counts as a guess here as in :meth:`consume`."""
        pending = self._pending.get(phone_key)
        if pending is None:
            return False
        if now >= pending.expires_at:
            del self._pending[phone_key]
            return False
        given = self.mac(phone_key, code) if isinstance(code, str) else b""
        if hmac.compare_digest(given, pending.mac):
            return True
        pending.failures += 1
        if pending.failures >= self.max_attempts:
            del self._pending[phone_key]
        return False

    def spend_attempt(self, phone_key: str) -> None:
        """Count one of the outstanding code's attempts without a guess: a right code whose op was
        refused for another reason (a username taken), so that one code cannot ask that question
        more than ``max_attempts`` times. Voids the code at the limit, as wrong guesses do."""
        pending = self._pending.get(phone_key)
        if pending is not None:
            pending.failures += 1
            if pending.failures >= self.max_attempts:
                del self._pending[phone_key]

    def prune(self, now: float) -> None:
        expired = [k for k, p in self._pending.items() if now >= p.expires_at]
        for k in expired:
            del self._pending[k]
