"""Passwords (argon2id), session tokens, and identity data at rest (AES-GCM + HMAC).

Identity values (phone, legal name, ID number) are stored sealed: a key id
byte, a 12-byte nonce, then the AES-GCM ciphertext (the key id byte is also
the associated data). Equality lookups (uniqueness, blacklists) use an HMAC of
the normalised value under a lookup key, so no lookup needs the plaintext.
Keys rotate; see :class:`IdentityVault` and docs/privacy.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from governance import audit
from governance.ratelimit import DEFAULT_IPV6_PREFIX, AddressCount
from protocol.errors import ContractError
from server.config import Problem
from server.storage.changes import Audit, SaveVault, ShareDevKey

if TYPE_CHECKING:
    from server.config import Config
    from server.storage.base import Store

log = logging.getLogger("qunguan.security")

# Installs before key files were made automatically sealed with this published key in
# development mode. It never seals anything now: it joins the key ring only to open
# what such a database already holds (see IdentityVault.bind), until rotate-key re-seals it.
LEGACY_DEV_KEY = hashlib.sha256(b"qunguan DEVELOPMENT key - not for production").digest()
KEY_FILE_NAME = "identity.key"


T = TypeVar("T")

# How long a client refused a password check (another of its address's is running) is told to wait.
PASSWORD_RETRY_MS = 500


class Passwords:
    """argon2id hashing, run off the event loop (it is deliberately slow).

    Each check costs tens of milliseconds of CPU and ``memory_kib`` of memory, and a correct
    password is never refused by the failed-login limits, so checks are bounded twice: at most
    ``per_address`` at once from one client address (its network; 0: no bound), a further one
    being ``rate_limited`` at once, and at most one per CPU at once in all (the rest wait their
    turn), so that a burst neither takes every thread of the loop's executor nor memory without end.
    """

    def __init__(self, time_cost: int, memory_kib: int, per_address: int = 0,
                 ipv6_prefix: int = DEFAULT_IPV6_PREFIX, spare_loopback: bool = False) -> None:
        self._ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        # Verified against when the user does not exist, so both paths cost the same.
        self._dummy = self._ph.hash(secrets.token_hex(16))
        self.in_flight = AddressCount(per_address, ipv6_prefix, spare_loopback)
        self._slots = asyncio.Semaphore(os.cpu_count() or 1)

    async def hash(self, password: str, address: str) -> str:
        return await self._run(address, self._ph.hash, password)

    async def verify(self, stored: str | None, password: str, address: str) -> bool:
        return await self._run(address, self._verify, stored or self._dummy, password, stored is not None)

    async def _run(self, address: str, fn: Callable[..., T], *args: Any) -> T:
        if not self.in_flight.take(address):  # (decided and counted in one step)
            raise ContractError("rate_limited", "another password check from this address is still running; "
                                "retry in a moment", retry_after_ms=PASSWORD_RETRY_MS)
        try:
            await self._slots.acquire()
        except BaseException:  # (cancelled while waiting for a turn)
            self.in_flight.drop(address)
            raise

        def release(_: object = None) -> None:
            self._slots.release()
            self.in_flight.drop(address)

        try:
            work = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        except BaseException:
            release()
            raise
        # Released when the thread is done, not when the request is: a handler cancelled while it
        # waits (a stop) leaves the check running, and it still counts until it ends.
        work.add_done_callback(release)
        return await asyncio.shield(work)

    def needs_rehash(self, stored: str | None) -> bool:
        """Whether ``stored`` was made under other argon2 settings than this server's now."""
        if stored is None:
            return False
        try:
            return self._ph.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return False

    def _verify(self, stored: str, password: str, real: bool) -> bool:
        stale = real and self.needs_rehash(stored)
        try:
            ok = self._ph.verify(stored, password) and real
        except (VerificationError, InvalidHashError):
            ok = False
        if stale:
            # A hash made under cheaper settings answers sooner than the stand-in a name no account
            # has is checked against, which is made under today's: the time told which names exist
            # (a privacy review: 2 ms against 177 ms). The stand-in's cost is paid too, until a
            # right password is hashed again (login: RehashPassword).
            with contextlib.suppress(VerificationError, InvalidHashError):
                self._ph.verify(self._dummy, password)
        return ok


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """Tokens are stored only as this hash; lookups go by hash, so the raw token never rests."""
    return hashlib.sha256(token.encode()).digest()


def _hex_key(raw: bytes) -> bytes | None:
    """The 32-byte key ``raw`` spells as 64 hex digits (blanks around them aside), or None."""
    try:
        key = bytes.fromhex(raw.strip().decode())
    except ValueError:
        return None
    return key if len(key) == 32 else None


def read_key(raw: bytes) -> bytes:
    """A key file's or variable's content as a 32-byte key: 64 hex digits, else SHA-256 of the text."""
    key = _hex_key(raw)
    return key if key is not None else hashlib.sha256(raw.strip()).digest()


def key_fingerprint(key: bytes) -> str:
    """Names a key in the database (``vault_keys``) without revealing it."""
    return hmac.new(key, b"qunguan identity key fingerprint", hashlib.sha256).hexdigest()


def _load_or_new_key(path: Path) -> tuple[bytes, bool]:
    """The key in ``path``, or (on first start) a new random one, and whether it is new: a new key
    is written to ``path`` only by :meth:`IdentityVault.save_new_key`, once the store is open (a
    start that fails before must leave no key behind that no database ever used)."""
    try:
        return path.read_bytes(), False
    except FileNotFoundError:
        return secrets.token_hex(32).encode() + b"\n", True


def _write_new_key(path: Path, key: bytes) -> None:
    """Write a new key to ``path`` with mode 0600; never over a file that is there (ValueError, one line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ValueError(f"the identity key file {path} appeared while this server started: start it again "
                         "(it reads that key)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    log.warning("created a new identity key in %s (mode 0600): back it up whenever you back up the database, "
                "but not beside those backups; without it the identity data in the database cannot be opened (set "
                "identity.key_file to keep it elsewhere)", path)


class KeyProblems(ValueError):
    """The configured identity keys cannot be read; ``problems`` names each (``serve`` stops, exit 2)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def _read_key_file(path: Path, key: str, problems: list[Problem], blank_ok: bool = False) -> bytes | None:
    """The file's content; ``blank_ok``: an old key (``identity.old_key_files``) may be blank, so that
    data sealed under one before blank keys were refused can be opened and sealed again."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        problems.append(Problem(key, str(path), f"cannot read the key: {err.strerror or err}"))
        return None
    return raw if blank_ok else _not_blank(raw, key, str(path), problems)


MIN_PASSPHRASE_BYTES = 32
_NOT_DEV_KEY = (f"with dev_mode = false the identity key must be 64 hex digits (as the server writes its own) or "
                f"a passphrase of at least {MIN_PASSPHRASE_BYTES} bytes: a shorter text is a key someone can guess, "
                "and every phone, legal name and ID number would be sealed under it (data sealed under it already: "
                "rotate to a new key with `qunguan admin rotate-key` on the version that still runs with it, "
                "docs/operations.md, Upgrading)")


def strong_key(raw: bytes) -> bool:
    """A key's text fit for production: 64 hex digits, or a passphrase of MIN_PASSPHRASE_BYTES or more
    (a key_env naming the wrong variable, $HOME, gave "/root")."""
    # (the line's end aside, every byte counts: a random binary key may begin or end with a space byte)
    return _hex_key(raw) is not None or len(raw.rstrip(b"\r\n")) >= MIN_PASSPHRASE_BYTES


def _not_blank(raw: bytes, key: str, where: str, problems: list[Problem]) -> bytes | None:
    """``raw``, unless it holds nothing but white space: read_key would make it SHA-256 of the empty
    text, a key anyone can compute, and seal every phone and ID number under it (a file made by
    ``touch``, a secret mounted empty, a first start's key file left empty by a crash)."""
    if raw.strip():
        return raw
    problems.append(Problem(key, where, "the key is empty: it must hold 64 hex digits or a long passphrase"))
    return None


def _read_keys(
    key_file: Path | None, key_env: str, dev_mode: bool, old_key_files: Sequence[Path],
    default_key_file: Path | None, create: bool,
) -> tuple[bytes | None, list[bytes], bool]:
    """The configured key's and the old keys' raw content, as ``serve`` reads them at start, and
    whether the key is a new one still to be written to ``default_key_file``, or
    :class:`KeyProblems` naming everything that stops it. ``create``: with no key configured, make
    a new key when ``default_key_file`` is not there (``serve``); without, a missing one is not read
    and the key is None (``check-config``, which must not create files)."""
    problems: list[Problem] = []
    raw: bytes | None = None
    new = False
    if key_file is not None:
        raw = _read_key_file(key_file, "identity.key_file", problems)
    elif key_env:
        value = os.environ.get(key_env)
        if value:
            raw = _not_blank(value.encode(), "identity.key_env", key_env, problems)
        else:
            problems.append(Problem("identity.key_env", key_env, f"the environment variable {key_env} is empty or "
                                    "not set: it must hold the identity key"))
    if raw is not None and not dev_mode and not strong_key(raw):
        where = str(key_file) if key_file is not None else key_env
        problems.append(Problem("identity.key_file" if key_file is not None else "identity.key_env", where,
                                _NOT_DEV_KEY))
    old = [k for p in old_key_files
           if (k := _read_key_file(Path(p), "identity.old_key_files", problems, blank_ok=True)) is not None]
    if key_file is None and not key_env:
        if not dev_mode or default_key_file is None:
            problems.append(Problem("identity.key_file", "", "no identity key is configured and identity.dev_mode "
                                    "= false: set identity.key_file or identity.key_env"))
        elif create:
            raw, new = _load_or_new_key(default_key_file)
        elif default_key_file.exists():  # made by an earlier start: serve reads it
            raw = _read_key_file(default_key_file, "identity.key_file", problems)
        if create and raw is not None and not new:  # (the default file, read by _load_or_new_key)
            raw = _not_blank(raw, "identity.key_file", str(default_key_file), problems)
    if problems:
        raise KeyProblems(problems)
    return raw, old, new


def default_key_file(cfg: Config) -> Path:
    """Where the identity key is kept when none is configured: next to the SQLite database, or on
    PostgreSQL in the config file's folder."""
    db = cfg.storage.sqlite_file
    return (db.parent if db is not None else cfg.base_dir) / KEY_FILE_NAME


def vault_for(cfg: Config) -> IdentityVault:
    """The identity vault ``serve`` runs with (on the first start without a configured key, a new
    key, written to its file when the vault is bound to the open store)."""
    ident = cfg.identity
    try:
        return IdentityVault.from_config(ident.key_file, ident.key_env, ident.dev_mode,
                                         [cfg.base_dir / p for p in ident.old_key_files],
                                         default_key_file=default_key_file(cfg),
                                         share_dev_key=cfg.storage.sqlite_file is None)
    except KeyProblems as err:
        raise KeyProblems(cfg.naming_variables(err.problems)) from None


def key_problems(cfg: Config) -> list[Problem]:
    """What would stop ``serve`` from opening the configured identity keys (``check-config``), read
    as ``serve`` reads them, but creating no file."""
    ident = cfg.identity
    try:
        _read_keys(ident.key_file, ident.key_env, ident.dev_mode, [cfg.base_dir / p for p in ident.old_key_files],
                   default_key_file(cfg), create=False)
    except KeyProblems as err:
        return cfg.naming_variables(err.problems)
    return []


def _sealer(key: bytes) -> AESGCM:
    return AESGCM(hashlib.sha256(b"seal" + key).digest())


def _legacy_lookup_key(key: bytes) -> bytes:
    return hashlib.sha256(b"lookup" + key).digest()


class IdentityVault:
    """Seal and open identity fields; keyed lookup hashes for equality.

    Keys rotate: the vault holds a ring ``key id -> key``. New seals use the
    current key; :meth:`open` picks the key named by the blob's first byte.
    Key ids are assigned in the database (``vault_keys``, by fingerprint) when
    :meth:`bind` or :meth:`rotate` first sees a key.

    The lookup (HMAC) key is *not* a seal key: it is a separate secret kept in
    ``vault_secrets``, sealed under the current key, so it stays the same
    across rotations (uniqueness and blacklist lookups never see two hashes for
    one value) while an old seal key, once rotated out, opens nothing in the
    database. Before :meth:`bind` the vault uses key id 1 and the lookup key
    derived from the key (the layout of databases made before key rotation).
    """

    def __init__(self, key: bytes, key_id: int = 1, dev: bool = False, old_keys: Sequence[bytes] = ()) -> None:
        for k in (key, *old_keys):
            if len(k) != 32:
                raise ValueError("an identity key must be 32 bytes")
        self.dev = dev
        self.key_id = key_id
        self._current = key
        self._old = list(old_keys)
        self._keys = {key_id: _sealer(key)}
        self._lookup_key = _legacy_lookup_key(key)
        self._unsaved: tuple[Path, bytes] | None = None  # a new key's file and content, not written yet
        # identity.dev_mode on PostgreSQL with no key configured (the key in the default file): the key is
        # shared through the database, so that nodes of a cluster each in a folder of its own all start,
        # and all follow a rotation (see bind, _follow_shared_key and rotate)
        self._share = False
        self._file: Path | None = None  # that default file

    @classmethod
    def from_config(
        cls, key_file: Path | None, key_env: str, dev_mode: bool = True, old_key_files: Sequence[Path] = (),
        default_key_file: Path | None = None, share_dev_key: bool = False,
    ) -> IdentityVault:
        """The vault for the configured key: ``key_file``, else ``key_env``, else (unless
        ``dev_mode`` is false) ``default_key_file``, a random key on first start, written there
        by :meth:`save_new_key` (at :meth:`bind`, once the store is open), not here.
        Raises :class:`KeyProblems` naming every key that cannot be read."""
        raw, old, new = _read_keys(key_file, key_env, dev_mode, old_key_files, default_key_file, create=True)
        assert raw is not None
        vault = cls(read_key(raw), old_keys=[read_key(k) for k in old])
        if key_file is None and not key_env and default_key_file is not None:  # (the default file's key)
            vault._file = default_key_file
            vault._share = share_dev_key and dev_mode
            if new:
                vault._unsaved = (default_key_file, raw)
        return vault

    @property
    def shares_dev_key(self) -> bool:
        """Whether this vault keeps its key in step with a development service's copy in the database."""
        return self._share

    def save_new_key(self) -> None:
        """Write a key made on this first start to its file (mode 0600), once: before the database
        registers it (:meth:`bind`), so no database knows a key that is on no disk, and only once the
        store is open, so a start that fails before leaves no key file behind. ValueError (one line)
        when a file appeared there meanwhile."""
        if self._unsaved is not None:
            _write_new_key(*self._unsaved)
            self._unsaved = None

    def _adopt(self, raw: bytes) -> None:
        """Take the key ``raw`` (a file's content) instead of the one made at this start."""
        key = read_key(raw)
        self._current = key
        self._keys = {self.key_id: _sealer(key)}
        self._lookup_key = _legacy_lookup_key(key)
        assert self._unsaved is not None
        self._unsaved = (self._unsaved[0], raw)

    # -- the key registry ------------------------------------------------------
    async def bind(self, store: Store, now_ms: int) -> None:
        """Learn key ids and the lookup key from the database; refuse keys that do not fit.

        Raises ValueError (one line) when identity data is sealed under a key
        id that no configured key has, or does not open with the key that has it.
        Nodes of a cluster starting together on a new database race to register the key
        and the lookup key: the loser's write fails, and it binds again to what the
        winner stored (so every node uses the same lookup key). A key made on this first start is
        written to its file first (:meth:`save_new_key`), and only when the database has no key
        registered yet: otherwise the start is refused and nothing is written.
        """
        if self._unsaved is not None:
            registered = await store.vault_keys()
            # A database of an install from before key files were made (its data sealed with the
            # published development key, which its upgrade registered) takes a new key as any new
            # database does: the old key only opens what it sealed (an upgrade reviewer's start
            # was refused here, asking for a key file that never existed).
            legacy = key_fingerprint(LEGACY_DEV_KEY)
            if registered and any(fp != legacy for _, fp in registered):
                shared = await store.shared_dev_key() if self._share else None
                if shared is not None and key_fingerprint(read_key(shared)) in {fp for _, fp in registered}:
                    # Another node of this development service made the key: this one takes it (and keeps
                    # it in its own file for its next starts).
                    self._adopt(shared)
                    await asyncio.to_thread(self.save_new_key)
                else:
                    # A key made now opens nothing this database holds: refuse before writing it, or a
                    # stray key file is left that a later start would take for the database's own key.
                    raise ValueError(
                        f"no identity key file at {self._unsaved[0]}, but this database already has "
                        f"{len(registered)} identity key(s) registered: put the key file back (or name it in "
                        "identity.key_file); a new key would open none of its identity data"
                    )
            else:
                if self._share:
                    # Shared before it is written: of nodes starting together on a new database, the
                    # first copy stored wins, and every other node takes it instead of its own.
                    await store.apply(ShareDevKey(self._unsaved[1]))
                    shared = await store.shared_dev_key()
                    if shared is not None and shared != self._unsaved[1]:
                        self._adopt(shared)
                await asyncio.to_thread(self.save_new_key)
        elif self._share:
            await self._follow_shared_key(store)
        for _ in range(3):
            before = await store.vault_keys()
            try:
                await self._bind_once(store, now_ms, before)
                return
            except ValueError:
                raise
            except Exception:
                if await store.vault_keys() == before:
                    raise  # nobody else registered meanwhile: a real failure
                log.info("another node registered the identity key at the same time; binding to its registration")
        raise ValueError("identity keys: could not register the key (other nodes kept registering at the same time)")

    async def _follow_shared_key(self, store: Store) -> None:
        """A development service's node whose own key file holds a key that ``rotate-key`` (on any node)
        has since replaced takes the copy in the database, the key made current there, as its current
        key; its file's key stays in the ring, opening what it sealed. The copy is taken only when it is
        the database's current key (the one the lookup key is sealed under) and the file's key is one the
        database registered: a key file from another database is refused as before, never replaced."""
        shared = await store.shared_dev_key()
        if shared is None:
            return
        key = read_key(shared)
        if key == self._current:
            return
        known = {fp: kid for kid, fp in await store.vault_keys()}
        lookup = await store.lookup_secret()
        kid, own = known.get(key_fingerprint(key)), known.get(key_fingerprint(self._current))
        if lookup is None or kid is None or own is None or lookup[0] != kid:
            return
        if self._current not in self._old:
            self._old.append(self._current)
        self._current = key
        log.warning("identity key: %s holds key id %d, which a rotation replaced; this node uses the development "
                    "service's current key (id %d), kept in the database, and the file's key only opens what it "
                    "sealed", self._file, own, kid)

    async def _dev_key_change(self, store: Store, current: bytes) -> tuple[bytes | None, bool]:
        """What the :class:`SaveVault` making ``current`` the current key does to a development key's copy
        in the database (its ``dev_key`` and ``drop_dev_key``): nothing where there is none or it is
        ``current`` already; replaced by ``current`` where this vault shares its key; else dropped (a
        configured key is never copied, and a copy of one no longer current would start nodes on it)."""
        shared = await store.shared_dev_key()
        if shared is None or read_key(shared) == current:
            return None, False
        if self._share:
            return current.hex().encode() + b"\n", False
        return None, True

    async def _bind_once(self, store: Store, now_ms: int, registered: list[tuple[int, str]]) -> None:
        known = {fp: kid for kid, fp in registered}
        ring: dict[int, bytes] = {}
        for k in (*self._old, LEGACY_DEV_KEY, self._current):
            kid = known.get(key_fingerprint(k))
            if kid is not None:
                ring[kid] = k
        cur_fp = key_fingerprint(self._current)
        register = cur_fp not in known
        cur_id = known[cur_fp] if not register else max(known.values(), default=0) + 1
        if cur_id > 255:
            raise ValueError("identity keys: all 255 key ids are used")
        ring[cur_id] = self._current
        sealers = {kid: _sealer(k) for kid, k in ring.items()}
        in_use = await store.sealed_key_ids()
        legacy_id = known.get(key_fingerprint(LEGACY_DEV_KEY))
        if legacy_id is not None and legacy_id in in_use and self._current != LEGACY_DEV_KEY:
            # (only while something is sealed with it: after rotate-key it stays registered, opening nothing)
            log.warning("some identity data is still sealed with the published development key of earlier "
                        "versions: run 'qunguan admin rotate-key' to re-seal it under this server's key")
        for used in in_use:
            if used not in ring:
                raise ValueError(
                    f"identity data is sealed with key id {used}, which no configured key has: "
                    "name that key in identity.key_file or identity.old_key_files"
                )
            sample = await store.sealed_sample(used)
            if sample is None:  # re-sealed meanwhile
                continue
            try:
                sealers[used].decrypt(sample[1:13], sample[13:], sample[:1])
            except InvalidTag:
                raise ValueError(
                    f"identity data sealed with key id {used} does not open with the configured key: "
                    "the database was written with another identity key"
                ) from None
        blob = await store.lookup_secret()
        if blob is not None:
            if blob[0] not in sealers:
                raise ValueError(
                    f"the lookup key is sealed with key id {blob[0]}, which no configured key has: "
                    "name that key in identity.key_file or identity.old_key_files"
                )
            try:
                lookup = sealers[blob[0]].decrypt(blob[1:13], blob[13:], blob[:1])
            except InvalidTag:
                raise ValueError("the lookup key does not open with the configured identity key") from None
            reseal = blob[0] != cur_id
        else:
            # Databases from before key rotation hashed with a key derived from key id 1.
            has_users = await store.has_users()
            lookup = _legacy_lookup_key(ring[1]) if has_users and 1 in ring else secrets.token_bytes(32)
            reseal = True
        self._keys, self.key_id, self._lookup_key = sealers, cur_id, lookup
        # (also a copy of a development key left stale, as rotations before the copy followed them left it)
        dev_key, drop = await self._dev_key_change(store, self._current)
        if register or reseal or dev_key is not None or drop:
            await store.apply(self._save(cur_id, cur_fp if register else None, now_ms, dev_key, drop))

    def _save(self, key_id: int, new_fp: str | None, now_ms: int, dev_key: bytes | None = None,
              drop_dev_key: bool = False) -> SaveVault:
        """Register ``new_fp`` under ``key_id`` (when given) and store the lookup key sealed under the current
        key; ``dev_key``, ``drop_dev_key``: what becomes of a development key's copy (:meth:`_dev_key_change`)."""
        return SaveVault(key_id, new_fp, self.seal_bytes(self._lookup_key), now_ms, dev_key, drop_dev_key)

    async def rotate(self, store: Store, new_key: bytes, now_ms: int,
                     record: Callable[[int, bool], Audit] | None = None) -> tuple[int, bool]:
        """Make ``new_key`` current (registering it if new); returns (its key id, whether it was new).

        Values sealed before stay readable (their keys stay in the ring) until
        :meth:`reseal` has moved them; the lookup key is re-sealed at once. ``record(key id, new)``:
        the enforcement-record entry written in the same transaction as the switch. A development
        service's copy of its key in the database is replaced by ``new_key`` in that transaction too (or
        dropped, when this vault's key is a configured one: :meth:`_dev_key_change`), so that no node
        takes the key rotated away from (:meth:`bind`).
        """
        if len(new_key) != 32:
            raise ValueError("an identity key must be 32 bytes")
        fp = key_fingerprint(new_key)
        known = {f: kid for kid, f in await store.vault_keys()}
        is_new = fp not in known
        kid = known[fp] if not is_new else max(known.values(), default=0) + 1
        if kid > 255:
            raise ValueError("identity keys: all 255 key ids are used")
        dev_key, drop = await self._dev_key_change(store, new_key)
        self._keys[kid] = _sealer(new_key)
        old_current = self.key_id
        self.key_id = kid
        try:
            await store.apply(self._save(kid, fp if is_new else None, now_ms, dev_key, drop),
                              audit=record(kid, is_new) if record is not None else None)
        except BaseException:
            self.key_id = old_current
            raise
        if self._current not in self._old:
            self._old.append(self._current)
        self._current = new_key
        self.dev = False
        return kid, is_new

    def reseal(self, blob: bytes | None) -> bytes | None:
        """``blob`` sealed under the current key, or None when it already is (or holds nothing)."""
        if not blob or blob[0] == self.key_id:
            return None
        return self.seal(self.open(blob))

    # -- values ------------------------------------------------------------------
    def seal_bytes(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        ct = self._keys[self.key_id].encrypt(nonce, plaintext, bytes([self.key_id]))
        return bytes([self.key_id]) + nonce + ct

    def seal(self, plaintext: str) -> bytes:
        return self.seal_bytes(plaintext.encode())

    def open(self, blob: bytes) -> str:
        key_id = blob[0]
        sealer = self._keys.get(key_id)
        if sealer is None:
            raise ValueError(f"no identity key with id {key_id} is configured")
        return sealer.decrypt(blob[1:13], blob[13:], bytes([key_id])).decode()

    def record_key(self) -> bytes:
        """The enforcement record's MAC key: derived from the lookup secret, which the identity key seals."""
        return audit.record_key(self._lookup_key)

    def media_url_key(self) -> bytes:
        """The key that signs media URLs: derived from the lookup secret (the same on every node,
        unchanged by identity-key rotation), never the secret itself."""
        return hmac.new(self._lookup_key, b"qunguan media url key", hashlib.sha256).digest()

    def lookup(self, kind: str, normalized: str) -> bytes:
        return hmac.new(self._lookup_key, f"{kind}:{normalized}".encode(), hashlib.sha256).digest()
