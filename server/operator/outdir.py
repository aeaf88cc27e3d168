"""The folder an operator command writes into (``export``, ``filing-report``), claimed by that command
and reached only through a descriptor of it.

An operator names the folder; the server writes there with its own rights (which reach its database,
its identity key and its media). A path looked up again at each write could be swapped meanwhile for a
link to one of those: a failed export's clean-up, emptying "its" folder, then emptied the server's data
folder instead. So the folder is opened once, not following a link (``O_NOFOLLOW``), right after it is
claimed, and every file is created, and every clean-up removal made, relative to that descriptor
(``dir_fd``), never through the path again; a clean-up removes only the names this command created.

Claiming: a new or empty folder; ``CLAIM`` is created in it with ``O_EXCL``, so of two commands given
one folder at once exactly one gets it, and the other is refused before it writes anything (and never
removes, on its way out, what the first wrote). The folder is looked at again once claimed: a command
that claimed and finished (its claim gone, its files there) between this one's first look and its
claim is not written over.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from server.operator.channel import OperatorError

__all__ = ["CLAIM", "OutDir", "StreamedFile"]

# The file that claims an output folder while a command writes into it.
CLAIM = ".qunguan-writing"
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class OutDir:
    """A claimed output folder; ``path`` only for what is said and recorded."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._files: list[str] = []  # created here, in order
        self._folders: list[OutDir] = []

    def __str__(self) -> str:
        return str(self.path)

    @classmethod
    def claim(cls, out: str) -> OutDir:
        path = Path(out)
        if not path.is_absolute():
            raise OperatorError("--out must be an absolute path (qunguan admin makes it one)")
        not_empty = f"--out {path} is not empty; exports go to a new or empty folder"
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        except OSError as err:
            raise OperatorError(f"cannot use --out {path}: {err.strerror or err}") from None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise OperatorError(f"--out {path} exists and is not a folder" + (
                " (a symbolic link: name the folder itself)" if stat.S_ISLNK(st.st_mode) else ""))
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, _DIR_FLAGS)
        except OSError as err:
            raise OperatorError(f"cannot create --out {path}: {err.strerror or err}") from None
        try:
            names = os.listdir(fd)
            if CLAIM in names:
                raise OperatorError(f"--out {path} holds {CLAIM}: another command is writing there, or one "
                                    f"stopped before it finished; if none is running, remove {CLAIM} and what "
                                    "it left, or choose another folder")
            if names:
                raise OperatorError(not_empty)
            try:
                os.close(os.open(CLAIM, _FILE_FLAGS, 0o600, dir_fd=fd))
            except FileExistsError:
                raise OperatorError(f"--out {path} is being written by another command; exports go to a new "
                                    "or empty folder") from None
            if any(name != CLAIM for name in os.listdir(fd)):
                with contextlib.suppress(OSError):
                    os.unlink(CLAIM, dir_fd=fd)
                raise OperatorError(not_empty)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    def create(self, name: str) -> int:
        """A new file ``name`` here (0600, never an existing one, never through a link), open for writing."""
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=self._fd)
        self._files.append(name)
        return fd

    def write(self, name: str, data: bytes) -> str:
        """``data`` as the new file ``name``, synced; its SHA-256."""
        return self.write_chunks(name, (data,))[0]

    def write_chunks(self, name: str, chunks: Iterable[bytes]) -> tuple[str, int]:
        """The ``chunks``, one after the other, as the new file ``name``, synced; its SHA-256 and size.
        (Made one at a time: a file of a million lines is never one string in memory.)"""
        f = self.stream(name)
        try:
            f.write(chunks)
            return f.finish(), f.size
        finally:
            f.close()

    def stream(self, name: str) -> StreamedFile:
        """The new file ``name`` here, to be written a part at a time (:class:`StreamedFile`)."""
        return StreamedFile(os.fdopen(self.create(name), "wb"))

    def folder(self, name: str) -> OutDir:
        """A new folder ``name`` here (0700), claimed with this one."""
        os.mkdir(name, 0o700, dir_fd=self._fd)
        sub = OutDir(self.path / name, os.open(name, _DIR_FLAGS, dir_fd=self._fd))
        self._folders.append(sub)
        self._files.append(name)  # (removed as a folder: see empty)
        return sub

    def empty(self) -> None:
        """Remove what this command created here (a failed command's files: it was new or empty)."""
        subs = {sub.path.name: sub for sub in self._folders}
        for name in reversed(self._files):
            with contextlib.suppress(OSError):
                if name in subs:
                    subs[name].empty()
                    subs[name].close()
                    os.rmdir(name, dir_fd=self._fd)
                else:
                    os.unlink(name, dir_fd=self._fd)
        self._files.clear()
        self._folders.clear()

    def abandon(self) -> None:
        """A failed command's folder: what it wrote removed, the claim let go."""
        self.empty()
        self.release()

    def release(self) -> None:
        """Remove the claim and let the folder go."""
        with contextlib.suppress(OSError):
            os.unlink(CLAIM, dir_fd=self._fd)
        self.close()

    def close(self) -> None:
        for sub in self._folders:
            sub.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class StreamedFile:
    """A file of an output folder written a part at a time, as its parts are read (a group's messages,
    a page at a time: ``export``), with its SHA-256 and size kept as it goes. Blocking calls: from a
    worker thread."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            self._f.write(chunk)
            self._digest.update(chunk)
            self.size += len(chunk)

    def finish(self) -> str:
        """Synced and closed; its SHA-256."""
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        return self._digest.hexdigest()

    def close(self) -> None:
        """Closed, whatever was written (a failed command's: its folder's clean-up removes it)."""
        self._f.close()
