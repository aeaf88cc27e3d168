"""The web client's string table: both languages have the same keys (no browser needed)."""

from __future__ import annotations

import re
from pathlib import Path

I18N = Path(__file__).resolve().parents[2] / "server" / "web" / "static" / "i18n.js"
KEY = re.compile(r'(?:^|[,{])\s*([a-z][a-z0-9_]*)\s*:\s*["`]', re.M)


def _tables() -> tuple[set[str], set[str]]:
    src = I18N.read_text(encoding="utf-8")
    zh = src[src.index("const zh = {"):src.index("const en = {")]
    en = src[src.index("const en = {"):src.index("const TABLES")]
    return set(KEY.findall(zh)), set(KEY.findall(en))


def test_both_languages_have_the_same_keys() -> None:
    zh, en = _tables()
    assert len(zh) > 400  # the pattern still reads the tables
    assert zh - en == set(), "keys missing in English"
    assert en - zh == set(), "keys missing in Chinese"
