"""The docs stand alone and say only what the code does.

- docs/config.md and the config parser agree both ways: every key the parser
  knows is documented in its own section's table, every key documented there is
  one the parser knows, and every documented key is read somewhere outside the
  parser (a key that is parsed and then ignored is a claim the code does not back).
- docs/regulation.md carries a row for every article of both provisions.
- No doc and not the README points at a file outside the repository.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DOC = ROOT / "docs" / "config.md"

# Fields of a section that are computed from keys, not keys themselves.
DERIVED = {("storage", "sqlite_file")}

_SECTION_HEADING = re.compile(r"^## `\[\[?([a-z_]+)\]\]?`", re.M)
_TABLE_ARRAY = re.compile(r"^`\[\[([a-z_.]+)\]\]`")
_ROW = re.compile(r"^\| `([a-z_0-9]+)` \|")


def documented_keys() -> dict[str, set[str]]:
    """{table: keys} from docs/config.md: rows of the tables under ``## `[section]` `` and
    under a paragraph starting with ``[[section.array]]`` (up to the next heading)."""
    found: dict[str, set[str]] = {}
    table: str | None = None
    in_fence = False
    for line in CONFIG_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if line.startswith("#"):
            m = _SECTION_HEADING.match(line)
            table = m.group(1) if m else None
            continue
        m = _TABLE_ARRAY.match(line)
        if m:
            table = m.group(1)
            continue
        m = _ROW.match(line)
        if m and table is not None:
            found.setdefault(table, set()).add(m.group(1))
    return found


def _sub_spec(kind: Any) -> type | None:
    """The table class of an array-of-tables kind (``tables(spec)`` in server/config.py)."""
    code = getattr(kind.convert, "__code__", None)
    if code is None or "spec" not in code.co_freevars or kind.convert.__closure__ is None:
        return None
    spec = kind.convert.__closure__[code.co_freevars.index("spec")].cell_contents
    return spec if isinstance(spec, type) else None


def parser_keys() -> dict[str, set[str]]:
    """{table: keys} the config parser accepts, sections and arrays of tables alike."""
    from server import config

    out: dict[str, set[str]] = {}

    def walk(name: str, cls: type) -> None:
        keys = out.setdefault(name, set())
        for f in dataclasses.fields(cls):
            setting = f.metadata.get(config._SETTING)
            if setting is None or (name, f.name) in DERIVED:
                continue
            keys.add(f.name)
            sub = _sub_spec(setting.kind)
            if sub is not None:
                walk(f"{name}.{f.name}", sub)

    array = getattr(config, "_ARRAY", None)  # top-level arrays of tables, e.g. [[operators]]
    for f in dataclasses.fields(config.Config):
        cls = f.metadata.get(config._SECTION) or (f.metadata.get(array) if array else None)
        if cls is not None:
            walk(f.name, cls)
    return out


def test_the_doc_parser_finds_the_sections():
    doc = documented_keys()
    assert {"server", "storage", "identity", "groups.size_classes", "credit.levels", "content.lists"} <= set(doc)
    assert "id_verifier_secret_file" in doc["identity"] and "min_members" in doc["groups.size_classes"]


def test_every_parser_key_is_documented_in_its_section():
    doc = documented_keys()
    missing = [f"{t}.{k}" for t, keys in parser_keys().items() for k in sorted(keys)
               if k not in doc.get(t, set()) and f"{t}.{k}" not in doc]  # an array of tables: its own table
    assert not missing, f"docs/config.md has no row (in the right section) for: {missing}"


def test_every_documented_key_is_a_parser_key():
    parsed = parser_keys()
    unknown = [f"{t}.{k}" for t, keys in documented_keys().items() for k in sorted(keys)
               if k not in parsed.get(t, set())]
    assert not unknown, f"docs/config.md documents keys the parser does not know: {unknown}"


def _code_outside_the_parser() -> str:
    files = [f for d in ("server", "governance", "protocol") for f in sorted((ROOT / d).rglob("*.py"))
             if f != ROOT / "server" / "config.py"]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def test_every_documented_key_is_read_by_the_code():
    """A documented key must be read outside server/config.py (as ``.key``, or by its name
    in ``getattr``), or the doc promises a setting that does nothing."""
    code = _code_outside_the_parser()
    unread = []
    for table, keys in documented_keys().items():
        for key in sorted(keys):
            if not re.search(rf"\.{key}\b|[\"']{key}[\"']", code):
                unread.append(f"{table}.{key}")
    assert not unread, f"docs/config.md documents keys no code reads: {unread}"


def test_regulation_doc_maps_every_article():
    text = (ROOT / "docs" / "regulation.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| ([GP]\d+) \|", text, re.M))
    expected = {f"G{i}" for i in range(1, 16)} | {f"P{i}" for i in range(1, 19)}
    assert rows == expected, f"missing: {sorted(expected - rows)}, unexpected: {sorted(rows - expected)}"


_LINK_TARGET = re.compile(r"\]\(([^)\s#]+)")


def test_no_doc_points_outside_the_repository():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    outside = []
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        for target in _LINK_TARGET.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # http://, https://, mailto:
            resolved = (doc.parent / target).resolve()
            if ROOT.resolve() not in resolved.parents and resolved != ROOT.resolve():
                outside.append(f"{doc.name}: link to {target}")
            elif not resolved.exists():
                outside.append(f"{doc.name}: link to {target} (no such file)")
        for mention in re.findall(r"shared/[A-Za-z_./]+|/work/[A-Za-z_./]+", text):
            outside.append(f"{doc.name}: mentions {mention}")
    assert not outside, "docs must stand alone:\n" + "\n".join(outside)
