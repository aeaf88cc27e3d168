"""The layering rules of docs/architecture.md, checked on the source itself.

- Every SQL statement lives in ``server/storage/``.
- ``protocol/`` and ``governance/`` do no I/O: they never import ``server``,
  ``asyncio``, sockets or a database driver; ``protocol`` never imports ``governance``.
- Handler modules import each other without cycles, and none imports ``server.app``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SQL = re.compile(
    r"^\s*(SELECT\s|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|UNIQUE)|ALTER\s+TABLE"
    r"|DROP\s|PRAGMA\s|BEGIN\b|COMMIT\b|ROLLBACK\b|SAVEPOINT\s|WITH\s+\w+\s+AS)"
)
IO_MODULES = {"asyncio", "socket", "sqlite3", "aiosqlite", "asyncpg", "nats", "websockets", "subprocess"}
SANS_IO = {"websockets.frames"}  # websockets' frame (de)serialisation does no I/O


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def string_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            out.append((node.lineno, text))
    return out


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_no_sql_outside_server_storage():
    found = []
    for folder in ("server", "protocol", "governance", "client_demo"):
        for path in sources(folder):
            if path.is_relative_to(ROOT / "server" / "storage"):
                continue
            found += [f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}"
                      for line, text in string_literals(path) if SQL.match(text)]
    assert found == []


def test_the_sql_check_finds_sql():
    lits = [t for _, t in string_literals(ROOT / "server" / "storage" / "sqlite_reads.py")]
    assert any(SQL.match(t) for t in lits)


@pytest.mark.parametrize("layer", ["protocol", "governance"])
def test_pure_layers_do_no_io(layer):
    bad = []
    for path in sources(layer):
        for name in imports(path):
            top = name.split(".")[0]
            if any(name == m or name.startswith(m + ".") for m in SANS_IO):
                continue
            if top in IO_MODULES or top == "server" or (layer == "protocol" and top == "governance"):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


def test_handlers_have_no_import_cycles_and_never_import_the_app():
    modules = {p.stem: p for p in sources("server/handlers") if p.stem != "__init__"}
    graph = {}
    for name, path in modules.items():
        names = imports(path)
        assert "server.app" not in names, f"{name} imports server.app"
        graph[name] = {m.split(".")[2] for m in names
                       if m.startswith("server.handlers.") and m.split(".")[2] in modules}

    def visit(node, stack):
        assert node not in stack, f"import cycle: {' -> '.join([*stack, node])}"
        for nxt in graph[node]:
            visit(nxt, [*stack, node])

    for name in graph:
        visit(name, [])
