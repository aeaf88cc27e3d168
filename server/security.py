"""Passwords (argon2id), session tokens, and identity data at rest (AES-GCM + HMAC).

Identity values (phone, legal name, ID number) are stored sealed: a key id
byte, a 12-byte nonce, then the AES-GCM ciphertext. Equality lookups
(uniqueness, blacklists) use an HMAC of the normalised value under a key
derived from the same secret, so no lookup needs the plaintext.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("qunguan.security")

DEV_KEY = hashlib.sha256(b"qunguan DEVELOPMENT key - not for production").digest()


class Passwords:
    """argon2id hashing, run off the event loop (it is deliberately slow)."""

    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self._ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        # Verified against when the user does not exist, so both paths cost the same.
        self._dummy = self._ph.hash(secrets.token_hex(16))

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, self._ph.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            None, self._verify, stored or self._dummy, password, stored is not None
        )

    def _verify(self, stored: str, password: str, real: bool) -> bool:
        try:
            return self._ph.verify(stored, password) and real
        except (VerificationError, InvalidHashError):
            return False


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """Tokens are stored only as this hash; lookups go by hash, so the raw token never rests."""
    return hashlib.sha256(token.encode()).digest()


class IdentityVault:
    """Seal and open identity fields; keyed lookup hashes for equality."""

    def __init__(self, key: bytes, key_id: int = 1, dev: bool = False) -> None:
        if len(key) != 32:
            raise ValueError("the identity key must be 32 bytes")
        self.dev = dev
        self.key_id = key_id
        self._keys = {key_id: AESGCM(hashlib.sha256(b"seal" + key).digest())}
        self._lookup_key = hashlib.sha256(b"lookup" + key).digest()

    @classmethod
    def from_config(cls, key_file: Path | None, key_env: str) -> "IdentityVault":
        raw: bytes | None = None
        if key_file is not None:
            raw = key_file.read_bytes().strip()
        elif key_env:
            value = os.environ.get(key_env)
            if not value:
                raise ValueError(f"environment variable {key_env} named by identity.key_env is empty")
            raw = value.encode()
        if raw is None:
            log.warning(
                "identity.key_file / identity.key_env not set: using the DEVELOPMENT key; "
                "identity data is NOT protected at rest"
            )
            return cls(DEV_KEY, dev=True)
        try:
            key = bytes.fromhex(raw.decode())
        except ValueError:
            key = b""
        if len(key) != 32:
            key = hashlib.sha256(raw).digest()
        return cls(key)

    def seal(self, plaintext: str) -> bytes:
        nonce = os.urandom(12)
        ct = self._keys[self.key_id].encrypt(nonce, plaintext.encode(), bytes([self.key_id]))
        return bytes([self.key_id]) + nonce + ct

    def open(self, blob: bytes) -> str:
        key_id = blob[0]
        return self._keys[key_id].decrypt(blob[1:13], blob[13:], bytes([key_id])).decode()

    def lookup(self, kind: str, normalized: str) -> bytes:
        return hmac.new(self._lookup_key, f"{kind}:{normalized}".encode(), hashlib.sha256).digest()
