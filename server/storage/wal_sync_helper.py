"""The WAL sync helper's process (started by ``wal_sync.WalSyncer``; standard library only).

``python -I -S wal_sync_helper.py PATH``: reads requests on standard input (one byte
each, read together when several wait), runs one ``fdatasync`` of the file PATH for
them, and answers with the number of requests that sync covered (4 bytes, little
endian, signed: negative when the sync failed, so those writes are not settled as
durable). The file is opened again when it was replaced (SQLite does not replace
its WAL while the store is open, but a stale descriptor would sync nothing).

It ends at EOF on standard input: the store closed, or the server died, even by
``kill -9``. It ignores the signals a terminal or a service manager sends a whole
process group, so a server that is shutting down keeps it until its last commit
is on disk.
"""

from __future__ import annotations

import os
import signal
import sys


def _open(path: str) -> tuple[int, int]:
    fd = os.open(path, os.O_RDONLY)
    return fd, os.fstat(fd).st_ino


def main(path: str) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    fd, ino = _open(path)
    while True:
        try:
            data = os.read(0, 65536)
        except InterruptedError:
            continue
        if not data:
            return
        n = len(data)
        try:
            if os.stat(path).st_ino != ino:
                os.close(fd)
                fd, ino = _open(path)
            os.fdatasync(fd)
        except OSError as err:
            sys.stderr.write(f"qunguan WAL sync helper: {err}\n")
            n = -n
        try:
            os.write(1, n.to_bytes(4, "little", signed=True))
        except BrokenPipeError:  # the server died with a request in flight (kill -9): nobody to answer
            return


if __name__ == "__main__":
    main(sys.argv[1])
