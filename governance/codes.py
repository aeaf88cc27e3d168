"""SMS verification codes: 6 digits, single use, valid ``ttl`` seconds (contract: 5 minutes)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Pending:
    code: bytes
    expires_at: float
    failures: int = 0


class CodeBook:
    """Outstanding codes keyed by normalised phone; wrong guesses void a code after ``max_attempts``."""

    def __init__(self, ttl: float = 300.0, max_attempts: int = 5) -> None:
        self.ttl = float(ttl)
        self.max_attempts = max(1, int(max_attempts))
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def issue(self, phone_key: str, now: float, randbelow: Callable[[int], int]) -> str:
        """A new code for ``phone_key``, replacing any earlier one. Pass ``secrets.randbelow``."""
        code = f"{randbelow(1_000_000):06d}"
        self._pending[phone_key] = _Pending(code.encode("ascii"), now + self.ttl)
        return code

    def consume(self, phone_key: str, code: str, now: float) -> bool:
        pending = self._pending.get(phone_key)
        if pending is None:
            return False
        if now >= pending.expires_at:
            del self._pending[phone_key]
            return False
        given = code.encode("utf-8", "replace") if isinstance(code, str) else b""
        if hmac.compare_digest(given, pending.code):
            del self._pending[phone_key]
            return True
        pending.failures += 1
        if pending.failures >= self.max_attempts:
            del self._pending[phone_key]
        return False

    def prune(self, now: float) -> None:
        expired = [k for k, p in self._pending.items() if now >= p.expires_at]
        for k in expired:
            del self._pending[k]
