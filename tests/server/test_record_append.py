"""The enforcement record's checkpoint file takes whole lines only (server/record.py: _append).

A reviewer filled the disk under it: the append wrote part of a line and returned as if it had
written it all; the next line, once there was room, was glued onto that fragment, and both were
unreadable."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from server.record import Checkpoint, _append, read_checkpoints
from tests.small_disk import fill, mounted


def test_a_line_that_does_not_fit_is_taken_back_and_the_next_one_reads(tmp_path: Path) -> None:
    with mounted(tmp_path / "disk", "64k") as disk:
        path = disk / "audit.checkpoints"
        # The file ends 40 bytes before its page does: the next line needs a page the disk lacks, and
        # its first 40 bytes are written before the write runs out (as the reviewer's was).
        line = (json.dumps(Checkpoint(1, 1, 1, "a" * 64).as_dict()) + "\n").encode()
        path.write_bytes(b" " * (4096 - 40 - len(line)) + line)  # (JSON allows the spaces before it)
        size = path.stat().st_size
        filler = fill(disk)
        with pytest.raises(OSError):
            _append(path, Checkpoint(2, 2, 2, "b" * 64))
        assert path.stat().st_size == size  # nothing of it stays
        os.remove(filler)
        _append(path, Checkpoint(3, 3, 3, "c" * 64))
        assert [cp.count for cp in read_checkpoints(path)] == [1, 3]


def test_a_torn_last_line_is_ended_before_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "audit.checkpoints"
    _append(path, Checkpoint(1, 1, 1, "a" * 64))
    with open(path, "ab") as f:
        f.write(b'{"count": 2, "last_id": 2, "mac": "5c3ae')  # (a crash in the middle of a line)
    _append(path, Checkpoint(3, 3, 3, "c" * 64))
    assert [cp.count for cp in read_checkpoints(path)] == [1, 3]
