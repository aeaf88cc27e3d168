"""check-config reads and parses the list files as serve reads them, and a file that goes bad later is
named by its key or path when read: word lists and reserved names must be UTF-8, media lists SHA-256s."""

from __future__ import annotations

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


def test_a_list_file_gone_bad_after_the_check_is_named_when_read(tmp_path):
    """Between load_config and the reading of the lists a file may change: the error names it all the same."""
    from server.content import build_filter
    from server.media.lists import build_media_lists

    for name in ("w.txt", "m.txt", "r.txt"):
        (tmp_path / name).write_text(f"{DIGEST}\n", encoding="utf-8")
    data = {"content": {"lists": _list("lists", "w.txt")["content"]["lists"],
                        "media_lists": _list("media_lists", "m.txt")["content"]["media_lists"]},
            "public_accounts": {"reserved_names": "r.txt"}}
    cfg = parse_config(data, tmp_path)
    for name in ("w.txt", "m.txt", "r.txt"):
        (tmp_path / name).write_bytes(b"\xff")
    for read in (build_filter, build_media_lists, lambda c: c.public_accounts.reserved):
        with pytest.raises(ValueError) as err:
            read(cfg)
        assert str(err.value).startswith(str(tmp_path)) and str(err.value).endswith(
            ": not UTF-8 (byte 0xff at offset 0)"), err.value
