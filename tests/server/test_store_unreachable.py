"""Which errors say the database is out of reach (answered ``internal`` "the database could not be
reached; try again shortly" with a warning), and which are the server's faults or another part's
(answered "internal server error" with a traceback): a statement's own error, a media file's
``OSError``, the store's ``StoreFailed`` must never pass for an outage."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from server.storage.base import StoreFailed
from server.storage.postgres import PostgresStore
from server.storage.sqlite import SqliteStore


def _fenced_error() -> BaseException:
    """What qunguan_fence raises for a home whose lease another node took (sqlstate QGF01)."""
    err = asyncpg.exceptions.RaiseError("fenced: the home lease is held at a later epoch")
    err.sqlstate = "QGF01"  # type: ignore[misc]
    return err


@pytest.mark.parametrize("err, unreachable", [
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"), True),
    (ConnectionResetError(errno.ECONNRESET, "reset by peer"), True),
    (OSError(errno.EHOSTUNREACH, "No route to host"), True),
    (TimeoutError(), True),
    (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
    (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"), True),
    (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
    (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"), True),
    (asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"), True),
    # (a chaos reviewer saw these with a traceback per request: the database refusing, not a fault)
    (asyncpg.exceptions.LockNotAvailableError("canceling statement due to lock timeout"), True),
    (_fenced_error(), True),
    # the server's faults, or another part's
    (asyncpg.exceptions.InterfaceError("cannot perform operation: another operation is in progress"), False),
    (asyncpg.exceptions.UndefinedColumnError('column "nope" does not exist'), False),
    (OSError(errno.ENOSPC, "No space left on device"), False),
    (FileNotFoundError(errno.ENOENT, "No such file or directory"), False),
    (StoreFailed("the store takes no more writes"), False),
    (sqlite3.OperationalError("database is locked"), False),
    (ValueError("a bug"), False),
])
def test_postgresql_names_only_a_lost_link_or_a_refusal_an_outage(err: BaseException, unreachable: bool) -> None:
    assert PostgresStore("postgresql://postgres@127.0.0.1/x").unreachable(err) is unreachable


def _sqlite_errors(tmp_path: Path) -> dict[str, BaseException]:
    """Real errors of SQLite: a write lock held by another connection, and a statement's own error."""
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (a)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    found: dict[str, BaseException] = {}
    try:
        other.execute("SELECT * FROM t")
    except sqlite3.OperationalError as err:
        found["busy"] = err
    holder.execute("ROLLBACK")
    try:
        other.execute("SELECT nope FROM t")
    except sqlite3.OperationalError as err:
        found["statement"] = err
    holder.close()
    other.close()
    return found


def test_sqlite_names_only_a_lock_held_too_long_or_a_read_error_an_outage(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.db")
    errors = _sqlite_errors(tmp_path)
    assert store.unreachable(errors["busy"]) is True
    assert store.unreachable(errors["statement"]) is False  # "no such column": a fault of the server
    for other in (OSError(errno.ENOSPC, "No space left on device"), StoreFailed("fsync failed"),
                  ConnectionRefusedError(errno.ECONNREFUSED, "refused")):
        assert store.unreachable(other) is False
