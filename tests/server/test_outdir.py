"""An operator command's output folder (server/operator/outdir.py) is reached through the descriptor
it claimed, never its path again: swapped for a link to the server's own data folder while an export
read the database, the failed export's clean-up emptied the data folder (a review of the operator
channel). Now the clean-up removes only what the command created, where it created it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.operator.channel import OperatorError
from server.operator.outdir import CLAIM, OutDir


def test_a_folder_swapped_for_a_link_keeps_what_the_link_reaches(tmp_path: Path) -> None:
    data = tmp_path / "data"  # the server's own folder
    data.mkdir()
    (data / "qunguan.db").write_bytes(b"live")
    (data / "media").mkdir()
    (data / "media" / "f").write_bytes(b"a file")
    out = OutDir.claim(str(tmp_path / "out"))
    out.write("messages.jsonl", b"{}\n")
    media = out.folder("media")
    os.close(media.create("abc"))
    # swapped while the command ran
    (tmp_path / "out").rename(tmp_path / "moved")
    (tmp_path / "out").symlink_to(data)
    out.write("qunguan.db", b"x")  # written where the claim is, not through the link
    assert (tmp_path / "moved" / "qunguan.db").read_bytes() == b"x"
    out.abandon()
    assert (data / "qunguan.db").read_bytes() == b"live" and (data / "media" / "f").read_bytes() == b"a file"
    assert sorted(p.name for p in data.iterdir()) == ["media", "qunguan.db"]
    assert list((tmp_path / "moved").iterdir()) == []  # what it wrote, and its claim, are gone


def test_a_link_named_as_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OperatorError, match="symbolic link"):
        OutDir.claim(str(tmp_path / "link"))
    assert list((tmp_path / "real").iterdir()) == []


def test_a_claimed_or_used_folder_is_refused_and_a_finished_one_released(tmp_path: Path) -> None:
    first = OutDir.claim(str(tmp_path / "out"))
    with pytest.raises(OperatorError, match=CLAIM):
        OutDir.claim(str(tmp_path / "out"))
    first.write("a.json", b"{}")
    first.release()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.json"]
    assert oct((tmp_path / "out" / "a.json").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(OperatorError, match="not empty"):
        OutDir.claim(str(tmp_path / "out"))
    with pytest.raises(OperatorError, match="absolute"):
        OutDir.claim("relative/out")
