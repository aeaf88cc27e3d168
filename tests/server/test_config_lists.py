"""check-config reads and parses the list files as serve reads them, and a file that goes bad later is
named by its key or path when read: word lists and reserved names must be UTF-8, media lists SHA-256s."""

from __future__ import annotations

import dataclasses

import pytest

from server.config import check_config_main, parse_config
from tests.server.test_config_checks import problems

DIGEST = "ab" * 32


def _list(key: str, path: str) -> dict:
    return {"content": {key: [{"category": "x", "path": path, "action": "block"}]}}


# (list key, file bytes, the whole problem line); each a file serve refuses at start and on SIGHUP.
LIST_FILES = [
    ("lists", b"\xff\xfe\n", "content.lists[0].path = 'f.txt': not UTF-8 (byte 0xff at offset 0)"),
    ("lists", "好\n".encode() + b"\xe5\n", "content.lists[0].path = 'f.txt': not UTF-8 (byte 0xe5 at offset 4)"),
    ("media_lists", b"notpem\n",
     "content.media_lists[0].path = 'f.txt': line 1: not a SHA-256 in hex (64 hex digits): 'notpem'"),
    ("media_lists", f"# known\n\n{DIGEST} a note\n{DIGEST[:-1]}\n".encode(),
     f"content.media_lists[0].path = 'f.txt': line 4: not a SHA-256 in hex (64 hex digits): {DIGEST[:-1]!r}"),
    ("media_lists", b"\xff" + DIGEST.encode(),
     "content.media_lists[0].path = 'f.txt': not UTF-8 (byte 0xff at offset 0)"),
]


@pytest.mark.parametrize(("key", "content", "line"), LIST_FILES)
def test_list_files_are_read_and_parsed_as_serve_reads_them(tmp_path, capsys, key, content, line):
    (tmp_path / "f.txt").write_bytes(content)
    assert problems(_list(key, "f.txt"), tmp_path) == [line]
    config = tmp_path / "q.toml"
    config.write_text(f'[[content.{key}]]\ncategory = "x"\npath = "f.txt"\naction = "block"\n', encoding="utf-8")
    assert check_config_main(config) == 2
    assert capsys.readouterr().out.splitlines() == [line]


def test_good_list_files_pass(tmp_path):
    (tmp_path / "w.txt").write_text("六合彩\n# note\n", encoding="utf-8")
    (tmp_path / "m.txt").write_text(f"# known\n{DIGEST.upper()}  a note\n\n", encoding="utf-8")
    data = {"content": {"lists": _list("lists", "w.txt")["content"]["lists"],
                        "media_lists": _list("media_lists", "m.txt")["content"]["media_lists"]}}
    assert len(parse_config(data, tmp_path).content.media_lists) == 1


def test_reserved_names_not_utf8_names_the_byte(tmp_path):
    (tmp_path / "r.txt").write_bytes(b"ok\n\x80")
    assert problems({"public_accounts": {"reserved_names": "r.txt"}}, tmp_path) == [
        "public_accounts.reserved_names = 'r.txt': not UTF-8 (byte 0x80 at offset 3)"]


def _three_lists(tmp_path):
    return {"content": {"lists": _list("lists", "w.txt")["content"]["lists"],
                        "media_lists": _list("media_lists", "m.txt")["content"]["media_lists"]},
            "public_accounts": {"reserved_names": "r.txt"}}


def test_a_list_file_changed_after_the_load_is_used_as_it_was_checked(tmp_path):
    """The load checked each list file, and serve read it again to build its lists: a file changed in
    between was used unchecked (or failed a reload that had passed). The lists are built from the text
    the load read."""
    from server.content import build_filter
    from server.media.lists import build_media_lists

    (tmp_path / "w.txt").write_text("六合彩\n", encoding="utf-8")
    for name in ("m.txt", "r.txt"):
        (tmp_path / name).write_text(f"{DIGEST}\n", encoding="utf-8")
    cfg = parse_config(_three_lists(tmp_path), tmp_path)
    for name in ("w.txt", "m.txt", "r.txt"):
        (tmp_path / name).write_bytes(b"\xff")  # no longer UTF-8, nor a digest
    assert build_filter(cfg).check("买六合彩") is not None
    assert build_media_lists(cfg).check(DIGEST) is not None
    assert cfg.public_accounts.reserved == (DIGEST,)


def test_each_list_file_is_read_once_per_load(tmp_path, monkeypatch):
    """load_config's checks and serve's building of the lists (and a reload's) read each file once."""
    from pathlib import Path

    from server.content import build_filter
    from server.media.lists import build_media_lists

    (tmp_path / "w.txt").write_text("六合彩\n", encoding="utf-8")
    for name in ("m.txt", "r.txt"):
        (tmp_path / name).write_text(f"{DIGEST}\n", encoding="utf-8")
    reads: list[str] = []
    read_bytes = Path.read_bytes

    def counted(self: Path) -> bytes:
        reads.append(self.name)
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", counted)
    for _ in range(2):  # a start, then a reload: a load each
        cfg = parse_config(_three_lists(tmp_path), tmp_path)
        build_filter(cfg), build_media_lists(cfg), cfg.public_accounts.reserved
    assert sorted(reads) == sorted(["w.txt", "m.txt", "r.txt"] * 2), reads


def test_lists_built_from_a_config_made_without_the_load_read_their_files(tmp_path):
    """A config made in code (no text read by a load) still works: its files are read when the lists
    are built, and one gone bad is named."""
    from server.config import MediaListConfig, WordListConfig
    from server.content import build_filter
    from server.media.lists import build_media_lists

    cfg = parse_config({}, tmp_path)
    (tmp_path / "w.txt").write_bytes(b"\xff")
    (tmp_path / "m.txt").write_text(f"{DIGEST}\n", encoding="utf-8")
    words = WordListConfig(category="x", path=tmp_path / "w.txt", action="block")
    media = MediaListConfig(category="x", path=tmp_path / "m.txt", action="block")
    content = dataclasses.replace(cfg.content, lists=(words,), media_lists=(media,))
    cfg = dataclasses.replace(cfg, content=content)
    assert build_media_lists(cfg).check(DIGEST) is not None
    with pytest.raises(ValueError) as err:
        build_filter(cfg)
    assert str(err.value) == f"{tmp_path / 'w.txt'}: not UTF-8 (byte 0xff at offset 0)"
