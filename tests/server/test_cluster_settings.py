"""The settings a home enforces, as digests its heartbeat carries (server/cluster/settings.py): the
same for nodes whose configs differ only in what each keeps for itself, different in the section
that differs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.cluster import settings
from server.config import parse_config


def _config(root: Path, **sections: dict[str, Any]) -> Any:
    root.mkdir(parents=True, exist_ok=True)
    return parse_config({"identity": {"sms_provider": "file"}, **sections}, root)


def test_configs_that_differ_only_in_paths_and_each_nodes_own_sections_enforce_the_same(tmp_path: Path) -> None:
    one = _config(tmp_path / "a", server={"port": 8001}, metrics={"port": 9001})
    two = _config(tmp_path / "b", server={"port": 8002}, metrics={"port": 9002},
                  audit={"checkpoint_file": str(tmp_path / "elsewhere" / "checkpoints")})
    assert settings.digests(one) == settings.digests(two)
    assert settings.differing(settings.digests(one), dict(settings.digests(two))) == []


def test_the_sections_that_differ_are_named(tmp_path: Path) -> None:
    home = settings.digests(_config(tmp_path / "home"))
    mine = settings.digests(_config(tmp_path / "gw", retention={"days": 200}, limits={"max_text_chars": 10}))
    assert settings.differing(mine, dict(home)) == ["limits", "retention"]
    assert settings.differing(mine, None) == []  # (a home of the previous version sends none)
    assert settings.differing(mine, {"limits": home["limits"]}) == ["limits"]  # (only the sections both name)


def test_word_lists_are_compared_by_what_they_hold_not_where_they_are(tmp_path: Path) -> None:
    """Each node names its own files; what they hold is enforced, so it is compared (different lists
    filter differently after a takeover)."""
    def node(name: str, words: str) -> Any:
        root = tmp_path / name
        root.mkdir()
        (root / f"{name}.txt").write_text(words, encoding="utf-8")
        lists = [{"category": "pyramid_gambling", "path": f"{name}.txt", "action": "block"}]
        return settings.digests(_config(root, content={"lists": lists}))

    home = node("home", "赌博\n")
    assert settings.differing(node("same", "赌博\n"), dict(home)) == []
    assert settings.differing(node("other", "赌博\n网上赌场\n"), dict(home)) == ["content"]
