"""The docs stay true to the code.

- docs/governance.md carries the permission table generated from
  ``governance.permissions.permission_rows()`` between two markers; the test
  regenerates it and compares. ``python -m tests.test_docs`` rewrites the block.
- docs/compliance.md cites tests as ``tests/PATH.py::test_name``; every one must
  exist (checked by reading the test file's text, importing nothing).
- docs/protocol.md names every op of the op table, every error code, every event
  the server sends and every kind of ``notice``; its error, event and notice tables name
  nothing else, and its argument tables name only the ops' arguments, ``?`` on the optional ones.
- docs/operations.md's metric table is the registry of server/metrics.py (names, types, labels),
  and every ``qunguan_*`` metric the docs or the Grafana dashboard name is registered.
- docs/operator.md names every ``qunguan admin`` command the CLI accepts, and its Summary
  shows every option of each; every ``qunguan admin`` line in the docs uses real options, and so
  does every code span starting with a command's name (`reports --overdue`).
- docs/config.md's list of keys read at start only, and the ``(restart)`` marks of
  examples/qunguan.toml, are ``server.operations.RESTART_KEYS``.
- docs/config.md's type, default and numeric range of every key are the parser's (each documented
  bound is probed through ``parse_config``); every ``section.key`` and ``QUNGUAN_SECTION_KEY`` written
  in the docs exists.
- Links between the docs (``file.md#anchor``, ``#anchor``) point at files and
  headings that exist; code spans naming a source file (and ``file.py: name``) point at real code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOVERNANCE_DOC = ROOT / "docs" / "governance.md"
COMPLIANCE_DOC = ROOT / "docs" / "compliance.md"
PROTOCOL_DOC = ROOT / "docs" / "protocol.md"
OPERATOR_DOC = ROOT / "docs" / "operator.md"

BEGIN = "<!-- permissions:begin -->"
END = "<!-- permissions:end -->"
REGENERATE = "python -m tests.test_docs"

_TEST_REF = re.compile(r"(tests/[A-Za-z0-9_/]+\.py)::([A-Za-z_][A-Za-z0-9_]*)")


# -- the permission table ------------------------------------------------------------
def permission_table() -> str:
    """The Markdown block for docs/governance.md, generated from the code."""
    from governance import permissions as perm

    roles = (perm.Role.OWNER, perm.Role.ADMIN, perm.Role.MEMBER)
    cells: dict[tuple[str, object], dict[object, bool]] = {}
    for op, actor, target, ok in perm.permission_rows():
        cells.setdefault((op, target), {})[actor] = ok

    def target_text(op: str, target: object) -> str:
        if target is None:
            if op == "ban":
                return "(not in the group)"
            return "(sender left the group)" if op in perm.TARGETED_OPS else "—"
        return str(target)

    lines = [
        "| op | target's role | owner may | admin may | member may |",
        "|---|---|---|---|---|",
    ]
    for (op, target), by_actor in cells.items():
        row = [f"`{op}`", target_text(op, target)]
        row += ["yes" if by_actor.get(r, False) else "no" for r in roles]
        lines.append("| " + " | ".join(row) + " |")

    policies = ("open", "approval", "invite")
    member_invite = [p for p in policies if perm.may("invite", perm.Role.MEMBER, join_policy=p)]
    own_delete = all(perm.may("delete_message", r, t, own=True) for r in roles for t in (*roles, None))
    lines.append("")
    lines.append(
        "Besides the table: a member may `invite` when the group's join policy is "
        + (", ".join(f"`{p}`" for p in member_invite) if member_invite else "never")
        + "; "
        + ("anyone may `delete_message` on their own message." if own_delete
           else "deleting one's own message follows the table.")
    )
    return "\n".join(lines)


def _doc_block(text: str) -> str:
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END, start)
    return text[start:end].strip("\n")


def rewrite_governance_doc() -> bool:
    """Regenerate the block in docs/governance.md; True when the file changed."""
    text = GOVERNANCE_DOC.read_text(encoding="utf-8")
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END, start)
    new = text[:start] + "\n" + permission_table() + "\n" + text[end:]
    if new == text:
        return False
    GOVERNANCE_DOC.write_text(new, encoding="utf-8")
    return True


def test_governance_doc_has_the_markers_once():
    text = GOVERNANCE_DOC.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1, (
        f"docs/governance.md needs exactly one {BEGIN} and one {END}"
    )
    assert text.index(BEGIN) < text.index(END)


def test_permission_table_in_docs_matches_the_code():
    block = _doc_block(GOVERNANCE_DOC.read_text(encoding="utf-8"))
    assert block == permission_table(), (
        "docs/governance.md's permission table is out of date with governance/permissions.py; "
        f"run `{REGENERATE}` to rewrite the block between the markers"
    )


def test_permission_table_covers_every_management_op():
    from governance.permissions import MANAGEMENT_OPS

    table = permission_table()
    for op in MANAGEMENT_OPS:
        assert f"| `{op}` |" in table


# -- compliance table references --------------------------------------------------------
def compliance_refs() -> list[tuple[str, str]]:
    return _TEST_REF.findall(COMPLIANCE_DOC.read_text(encoding="utf-8"))


def _defines(test_file: Path, name: str) -> bool:
    pattern = re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", re.M)
    return pattern.search(test_file.read_text(encoding="utf-8")) is not None


def test_compliance_doc_cites_tests():
    assert len(compliance_refs()) >= 20, "docs/compliance.md should cite the tests that prove each article"


def test_every_cited_test_exists():
    missing = []
    for path, name in compliance_refs():
        f = ROOT / path
        if not f.is_file():
            missing.append(f"{path}::{name} (no such file)")
        elif not _defines(f, name):
            missing.append(f"{path}::{name} (no `def {name}` in the file)")
    assert not missing, "docs/compliance.md cites tests that do not exist:\n" + "\n".join(missing)


def test_no_row_cites_a_test_twice():
    twice = []
    for line in COMPLIANCE_DOC.read_text(encoding="utf-8").splitlines():
        refs = [f"{path}::{name}" for path, name in _TEST_REF.findall(line)]
        twice += sorted({r for r in refs if refs.count(r) > 1})
    assert not twice, f"docs/compliance.md cites a test twice in one row: {twice}"


def test_compliance_doc_has_a_row_per_article():
    text = COMPLIANCE_DOC.read_text(encoding="utf-8")
    for art in ("G5", "G6", "G7", "G8", "G9", "G10", "G11", "G12", "G13", "P4", "P5", "P6", "P7", "P8", "P9",
                "P10–P11", "P12", "P13", "P14", "P15", "P16"):
        assert re.search(rf"^\| \*\*{re.escape(art)}\*\* \|", text, re.M), f"no row for {art}"


def _cells(row: str) -> int:
    """The cells of a Markdown table row as GitHub renders it: a ``|`` splits a cell also inside a
    code span, unless written ``\\|``."""
    return len(re.split(r"(?<!\\)\|", row.strip().strip("|")))


def test_every_table_row_has_as_many_cells_as_its_header():
    """A ``|`` in a code span (``--outcome upheld|rejected``) split two rows of compliance.md: the
    rendered table moved their text into the next column and dropped their gaps column."""
    broken = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        header = 0
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if not line.startswith("|"):
                header = 0
                continue
            if header == 0:
                header = _cells(line)
            elif _cells(line) != header and not re.fullmatch(r"\|[-:| ]+\|", line.strip()):
                broken.append(f"{doc.name}:{n}: {_cells(line)} cells, the header {header}")
    assert not broken, broken


# -- protocol reference completeness -------------------------------------------------------
def test_protocol_doc_names_every_op_and_error_code():
    from protocol.errors import ERROR_CODES
    from protocol.requests import OPS

    text = PROTOCOL_DOC.read_text(encoding="utf-8")
    missing = [f"op {op}" for op in OPS if f"`{op}`" not in text]
    missing += [f"error code {c}" for c in sorted(ERROR_CODES) if f"`{c}`" not in text]
    assert not missing, "docs/protocol.md does not document: " + ", ".join(missing)


def test_close_reasons_in_the_protocol_doc_are_the_servers():
    """Each reason text of docs/protocol.md's close-code table is one the server closes with (the
    keepalive timeout's is the WebSocket library's)."""
    code = "\n".join(f.read_text(encoding="utf-8") for f in sorted((ROOT / "server").rglob("*.py")))
    reasons = re.findall(r"^\| \*\*\d{4}\*\*[^|]*\| `([^`]+)` \|", _protocol_section("Close codes"), re.M)
    assert len(reasons) >= 5, "the close-code table was not found"
    missing = [r for r in reasons if f'"{r}"' not in code and r != "keepalive ping timeout"]
    assert not missing, f"docs/protocol.md's close reasons the server never sends: {missing}"


def test_every_op_in_the_protocol_has_a_handler():
    """The ops docs/protocol.md documents (the op table) are the ops the server handles."""
    from protocol.requests import OPS
    from server.handlers import load_all

    handled = set(load_all())
    assert set(OPS) == handled, (f"no handler: {sorted(set(OPS) - handled)}; "
                                 f"handled but not in the op table: {sorted(handled - set(OPS))}")


_NOTICE_KIND = re.compile(r"""\bNotice\([^)]*?\bkind=["']([a-z_]+)["']""", re.S)


def server_events() -> tuple[set[str], set[str]]:
    """Every event type of the protocol, and the ``notice`` kinds the server code sends (read from its source)."""
    from protocol.events import EVENT_TYPES

    kinds: set[str] = set()
    for f in sorted((ROOT / "server").rglob("*.py")):
        kinds.update(_NOTICE_KIND.findall(f.read_text(encoding="utf-8")))
    return set(EVENT_TYPES), kinds


def test_protocol_doc_names_every_event_and_notice_kind():
    names, kinds = server_events()
    assert "notice" in names and len(kinds) >= 5, "the scan of server/ for events found too little"
    text = PROTOCOL_DOC.read_text(encoding="utf-8")
    missing = [f"event {n}" for n in sorted(names) if f"`{n}`" not in text]
    missing += [f"notice kind {k}" for k in sorted(kinds) if f"`{k}`" not in text]
    assert not missing, "docs/protocol.md does not document: " + ", ".join(missing)


def _protocol_section(heading: str) -> str:
    text = PROTOCOL_DOC.read_text(encoding="utf-8")
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_protocol_doc_tables_name_only_what_exists():
    """The other way round: the error-code table is exactly ``ERROR_CODES``, the event table exactly
    ``EVENT_TYPES``, the notice-kind table exactly the kinds server/ sends."""
    from protocol.errors import ERROR_CODES

    names, kinds = server_events()
    row = re.compile(r"^\| `([a-z_]+)` ", re.M)
    errors = set(row.findall(_protocol_section("Error codes")))
    events_part, kinds_part = _protocol_section("Events").split("**`notice` kinds.**", 1)
    wrong = [f"error code {c} (not in protocol/errors.py)" for c in sorted(errors - ERROR_CODES)]
    wrong += [f"error code {c} (no row)" for c in sorted(ERROR_CODES - errors)]
    wrong += [f"event {e} (not in protocol/events.py)" for e in sorted(set(row.findall(events_part)) - names)]
    wrong += [f"event {e} (no row)" for e in sorted(names - set(row.findall(events_part)))]
    doc_kinds = set(row.findall(kinds_part)) - {"kind"}  # the header row
    wrong += [f"notice kind {k} (server/ never sends it)" for k in sorted(doc_kinds - kinds)]
    wrong += [f"notice kind {k} (no row)" for k in sorted(kinds - doc_kinds)]
    assert not wrong, "docs/protocol.md's tables disagree with the code: " + ", ".join(wrong)


def test_protocol_doc_arguments_are_the_ops():
    """Under a heading naming ops (``### `send` ``), every argument row names an argument of one of
    them, marked ``?`` exactly when it is optional (``join_group`` takes one of its two), and every
    op with such a heading has its arguments written in its section or in an op table row."""
    from protocol.requests import OPS

    text = _FENCE.sub("", PROTOCOL_DOC.read_text(encoding="utf-8"))
    parts = re.split(r"^(#{2,4} .*)$", text, flags=re.M)
    wrong, checked = [], 0
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        ops = [op for op in re.findall(r"`([a-z_]+)`", heading) if op in OPS]
        if not ops:
            continue
        args = {a.name: a for op in ops for a in OPS[op]}
        table_rows = "\n".join(m for op in ops for m in re.findall(rf"^\| `{op}` \|.*$", text, re.M))
        argument_rows = "".join(_ARGUMENT_TABLE.findall(body))
        for name, mark in re.findall(r"^\| `([a-z_]+)`(\??) \|", argument_rows, re.M):
            checked += 1
            if name not in args:
                wrong.append(f"{heading}: argument {name} is not one of {sorted(args)}")
            elif (mark == "?") == args[name].required and ops != ["join_group"]:
                wrong.append(f"{heading}: {name} is {'required' if args[name].required else 'optional'}")
        wrong += [f"{heading}: argument {a} not documented" for a in args
                  if f"`{a}`" not in body + table_rows and not (a in _SEND_EXTRAS and ops == ["send"])]
    assert checked >= 60, "the argument tables of docs/protocol.md were not found"
    assert not wrong, "docs/protocol.md's arguments disagree with protocol/requests.py:\n" + "\n".join(wrong)


_ARGUMENT_TABLE = re.compile(r"^\| argument \|.*\n\|[-| ]+\|\n((?:\|.*\n)*)", re.M)
# send's v2 arguments are written in "Richer messages", not under its own heading
_SEND_EXTRAS = {"reply_to", "mentions", "mention_all", "attachments"}


# -- operator commands ---------------------------------------------------------------------
def admin_commands() -> list[str]:
    import argparse

    from server.operator.cli import _build

    parser = _build()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    raise AssertionError("qunguan admin has no subcommands")


def test_operator_doc_names_every_admin_command():
    commands = admin_commands()
    assert "warn-group" in commands and "verify-audit" in commands
    text = OPERATOR_DOC.read_text(encoding="utf-8")
    missing = [c for c in commands if f"### `{c}`" not in text]
    assert not missing, "docs/operator.md has no section (### `name`) for: " + ", ".join(missing)


def admin_options() -> dict[str, set[str]]:
    """{command: its --options} as the CLI's parser declares them."""
    import argparse

    from server.operator.cli import _build

    sub = next(a for a in _build()._actions if isinstance(a, argparse._SubParsersAction))
    return {name: {o for a in sp._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
            for name, sp in sub.choices.items()}


_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")
# `qunguan admin [--config F] [--json] COMMAND REST`, REST running on over backslash line continuations
_ADMIN_LINE = re.compile(r"qunguan admin((?: --config \S+| --json)*) ([a-z][a-z-]+)((?:\\\n|[^`\n])*)")


def test_operator_summary_shows_every_option_of_every_command():
    options = admin_options()
    text = OPERATOR_DOC.read_text(encoding="utf-8")
    summary = text.split("\n## Summary\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for m in re.finditer(r"^\| `([a-z][a-z-]+)((?: [^`]*)?)` \|", summary, re.M):
        rows.setdefault(m.group(1), m.group(2))
    missing = [f"{c} (no row)" for c in options if c not in rows]
    missing += [f"{c} {o}" for c, opts in options.items() if c in rows
                for o in sorted(opts - set(_OPTION.findall(rows[c])))]
    unknown = [f"{c} {o}" for c, row in rows.items() if c in options for o in _OPTION.findall(row)
               if o not in options[c]]
    assert not missing, "docs/operator.md's Summary does not show: " + ", ".join(missing)
    assert not unknown, "docs/operator.md's Summary shows options the CLI does not take: " + ", ".join(unknown)


def test_admin_command_lines_in_the_docs_use_real_commands_and_options():
    """Every ``qunguan admin ... COMMAND --opt`` written in README.md or docs/ names a command the CLI
    has and options that command takes."""
    options = admin_options()
    wrong = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for m in _ADMIN_LINE.finditer(doc.read_text(encoding="utf-8")):
            command, rest = m.group(2), m.group(3)
            if command not in options:
                wrong.append(f"{doc.name}: unknown command {command!r}")
                continue
            wrong += [f"{doc.name}: {command} {o}" for o in _OPTION.findall(rest)
                      if o not in options[command] and o != "--json"]
    assert not wrong, "docs name admin commands or options that do not exist:\n" + "\n".join(wrong)


def test_admin_command_fragments_in_the_docs_use_real_options():
    """A code span that starts with an admin command and gives options (`reports --overdue`,
    `hold --account AID`), written without ``qunguan admin`` before it, uses options the command takes."""
    options = admin_options()
    wrong = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for command, rest in re.findall(r"`([a-z][a-z-]+)( [^`\n]*--[^`\n]*)`", doc.read_text(encoding="utf-8")):
            if command in options:
                wrong += [f"{doc.name}: `{command}{rest}`: {o}" for o in _OPTION.findall(rest)
                          if o not in options[command] and o != "--json"]
    assert not wrong, "docs name admin options that do not exist:\n" + "\n".join(wrong)


# -- metrics -------------------------------------------------------------------------------
def registered_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """{exposed name: (type, label names)} of every metric in server/metrics.py's registry."""
    from prometheus_client.metrics import MetricWrapperBase

    from server.metrics import METRICS

    out = {}
    for metric in vars(METRICS).values():
        if isinstance(metric, MetricWrapperBase) and metric._labelnames is not None:
            name = metric._name + ("_total" if metric._type == "counter" else "")
            out[name] = (metric._type, tuple(metric._labelnames))
    return out


def test_operations_doc_lists_exactly_the_registered_metrics():
    """docs/operations.md's metric table and server/metrics.py agree: names, types, label names
    (the labels cell names each label in backticks before any ":" or "(" that describes its values)."""
    registered = registered_metrics()
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = {name: (kind, labels) for name, kind, labels in
            re.findall(r"^\| `(qunguan_[a-z_]+)` \| ([a-z]+) \|([^|]*)\|", text, re.M)}
    assert len(registered) >= 20, "the metrics registry was not read"
    wrong = [f"{n}: documented, not registered" for n in sorted(set(rows) - set(registered))]
    wrong += [f"{n}: registered, not documented" for n in sorted(set(registered) - set(rows))]
    for name in sorted(set(rows) & set(registered)):
        kind, labels = registered[name]
        doc_kind, doc_labels = rows[name]
        if doc_kind != kind:
            wrong.append(f"{name}: documented as a {doc_kind}, registered as a {kind}")
        written = set(re.findall(r"`([a-z_]+)`", re.split(r"[:(]", doc_labels, maxsplit=1)[0]))
        if written != set(labels):
            wrong.append(f"{name}: documented labels {sorted(written)}, registered {list(labels)}")
    assert not wrong, "docs/operations.md's metrics disagree with server/metrics.py:\n" + "\n".join(wrong)


def test_every_metric_named_in_the_docs_exists():
    """Any ``qunguan_*`` metric name in the docs and the Grafana dashboard is a registered one
    (histograms with their _bucket, _sum, _count series), or one of the process collector's series."""
    registered = registered_metrics()
    from server.metrics import METRICS

    process = {s.name for m in METRICS.registry.collect() if m.name.startswith("qunguan_process_") for s in m.samples}
    series = set(registered) | process
    series |= {f"{n}_{s}" for n, (k, _) in registered.items() if k == "histogram" for s in ("bucket", "sum", "count")}
    # a PostgreSQL table, the terminal client's token file, a key of the benchmark's results
    not_metrics = {"qunguan_fence", "qunguan_fence_write", "qunguan_token", "qunguan_config"}
    wrong = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "docs" / "grafana-dashboard.json"]:
        for name in set(re.findall(r"\bqunguan_[a-z_]*[a-z]\b", doc.read_text(encoding="utf-8"))):
            if name not in series and name not in not_metrics:
                wrong.append(f"{doc.name}: {name}")
    assert not wrong, "docs name metrics that are not registered:\n" + "\n".join(sorted(wrong))


# -- keys read at start only ---------------------------------------------------------------
def _restart_keys_in_config_doc() -> tuple[set[str], list[str]]:
    """The keys docs/config.md's Reloading section says keep their value until a restart (its list
    before "Everything else"), and the tokens there that name no key of their section."""
    import fnmatch

    from server.config import Config

    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    part = text.split("## Reloading (SIGHUP)", 1)[1].split("Everything else", 1)[0]
    part = part.split("\n- ", 1)[1]  # the list, not the paragraph before it
    cfg = Config()
    named: set[str] = set()
    unknown: list[str] = []
    section = ""
    for m in re.finditer(r"every `\[([a-z_]+)\]` key|`\[([a-z_]+)\]`|`([a-z_0-9*]+)`", part):
        if m.group(1):
            named |= {f"{m.group(1)}.{k}" for k in vars(getattr(cfg, m.group(1)))}
        elif m.group(2):
            section = m.group(2)
        else:
            keys = [k for k in vars(getattr(cfg, section)) if fnmatch.fnmatchcase(k, m.group(3))]
            named |= {f"{section}.{k}" for k in keys}
            if not keys:
                unknown.append(f"[{section}] {m.group(3)}")
    return named, unknown


def test_config_doc_lists_exactly_the_restart_keys():
    from server.operations import RESTART_KEYS

    named, unknown = _restart_keys_in_config_doc()
    assert not unknown, f"docs/config.md's restart list names no such key: {unknown}"
    named.discard("storage.sqlite_file")  # derived from storage.url, not a key
    assert named == set(RESTART_KEYS), (f"read at start but not listed: {sorted(set(RESTART_KEYS) - named)}; "
                                        f"listed but applied by a reload: {sorted(named - set(RESTART_KEYS))}")


def test_example_config_marks_exactly_the_restart_keys():
    """examples/qunguan.toml marks "(restart)" on the keys a reload keeps; tls_cert and tls_key are
    reloaded in place (only switching TLS on or off needs a restart), so they are not marked."""
    from server.operations import RESTART_KEYS

    marked, section = set(), ""
    for line in (ROOT / "examples" / "qunguan.toml").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\[+([a-z_.]+)\]+", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"#? ?([a-z_0-9]+) *=", line)
        if m and "(restart)" in line:
            marked.add(f"{section}.{m.group(1)}")
    assert marked == set(RESTART_KEYS) - {"server.tls_cert", "server.tls_key"}


# -- code the docs point at -------------------------------------------------------------------
_CODE_PATH = re.compile(r"`((?:server|governance|protocol|client_demo|tests|bench|examples)/[A-Za-z0-9_./-]*|"
                        r"[a-z_]+\.py)(?::\s*([A-Za-z_][A-Za-z0-9_.]*))?`")
_SOURCE_DIRS = ("server", "governance", "protocol", "client_demo", "bench", "tests")


def _names_defined(path: Path) -> set[str]:
    """Functions, classes (and their methods) and module or class level names assigned in ``path``."""
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_code_the_docs_point_at_exists():
    """A code span naming a file of the repository (`server/limits.py`, or just `wal_sync.py`) names
    one that exists; with ``: name`` after it (`governance/tiers.py: caps_for`), the file defines it."""
    wrong = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for ref, name in _CODE_PATH.findall(doc.read_text(encoding="utf-8")):
            if ref.startswith("bench/results/"):
                continue  # the benchmark's output, written when it runs
            if "/" in ref:
                found = [ROOT / ref] if (ROOT / ref).exists() else []
            else:
                found = [p for d in _SOURCE_DIRS for p in (ROOT / d).rglob(ref)]
            if not found:
                wrong.append(f"{doc.name}: {ref} (no such file)")
            elif name and found[0].is_file() and len(found) == 1 \
                    and name.split(".")[-1] not in _names_defined(found[0]):
                wrong.append(f"{doc.name}: {ref}: {name} (not defined there)")
    assert not wrong, "the docs point at code that is not there:\n" + "\n".join(wrong)


# -- links between the docs ----------------------------------------------------------------
_LINK = re.compile(r"\]\(([A-Za-z0-9_.\-/]*\.md)?(?:#([^)\s]+))?\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in _HEADING.findall(_FENCE.sub("", doc.read_text(encoding="utf-8"))):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_links_between_docs_resolve():
    broken = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = _FENCE.sub("", doc.read_text(encoding="utf-8"))
        for target, anchor in _LINK.findall(text):
            if "/" in target or (not target and not anchor):
                continue  # outside docs/ (or not a link to a doc): not checked here
            path = doc.parent / target if target else doc
            if not path.is_file():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and anchor not in anchors(path):
                broken.append(f"{doc.name}: {target}#{anchor} (no such heading)")
    assert not broken, "broken links in docs/:\n" + "\n".join(broken)

# -- config keys: type, default and range as documented --------------------------------------
_DOC_TYPES = {  # docs/config.md's type column -> the parser's kind labels it may stand for
    "integer": {"an integer"},
    "number": {"a finite number"},
    "string": {"a string"},
    "boolean": {"a boolean"},
    "path": {"a string (a path)", 'a string (a path, or "" for none)'},
    "array of strings": {"an array of strings"},
    "array of paths": {"an array of strings"},
    "array of tables": {"an array of tables"},
}
_FIRST_CODE = re.compile(r"`([^`]*)`")
_NUMBER = r"-?\d[\d,]*(?:\.\d+)?"
_AT_LEAST = re.compile(rf"(?:\*\*\(restart\)\*\* )?≥ ({_NUMBER})(?:$|[ ;—(])")
_ABOVE = re.compile(rf"> ({_NUMBER})(?:$|[ ;—(])")
_RANGE = re.compile(rf"({_NUMBER})–({_NUMBER})(?:$|[;—(])")


def config_doc_rows() -> list[tuple[str, str, list[str]]]:
    """(table, key, the row's other cells) for every key row of docs/config.md, tables as in
    tests/test_docs_standalone.py: ``server``, ``groups.size_classes``, ``operators``..."""
    from tests.test_docs_standalone import _SECTION_HEADING, _TABLE_ARRAY

    rows, table, in_fence = [], None, False
    for line in (ROOT / "docs" / "config.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif in_fence:
            continue
        elif line.startswith("#"):
            m = _SECTION_HEADING.match(line)
            table = m.group(1) if m else None
        elif m := _TABLE_ARRAY.match(line):
            table = m.group(1)
        elif (m := re.match(r"^\| `([a-z_0-9]+)` \|(.*)\|\s*$", line)) and table is not None:
            rows.append((table, m.group(1), [c.strip() for c in m.group(2).split("|")]))
    return rows


def config_specs() -> dict[str, type]:
    """{table: the dataclass declaring its keys}, arrays of tables included."""
    import dataclasses

    from server import config
    from tests.test_docs_standalone import _sub_spec

    specs: dict[str, type] = {}

    def walk(name: str, cls: type) -> None:
        specs[name] = cls
        for f in dataclasses.fields(cls):
            setting = f.metadata.get(config._SETTING)
            sub = _sub_spec(setting.kind) if setting is not None else None
            if sub is not None:
                walk(f"{name}.{f.name}", sub)

    for f in dataclasses.fields(config.Config):
        cls = f.metadata.get(config._SECTION) or f.metadata.get(config._ARRAY)
        if cls is not None:
            walk(f.name, cls)
    return specs


def _setting(table: str, key: str) -> Any:
    import dataclasses

    from server import config

    return next(f.metadata[config._SETTING] for f in dataclasses.fields(config_specs()[table]) if f.name == key)


def test_config_doc_rows_are_found():
    rows = config_doc_rows()
    tables = {t for t, _, _ in rows}
    assert len(rows) >= 100 and {"server", "metrics", "credit.levels", "operators"} <= tables


def test_config_doc_types_and_defaults_are_the_codes():
    """Each row's type is the key's kind, and its default (the first `code` of the default cell,
    read as TOML; "required", "unset", "see below" for a list of tables) is the declared default."""
    import tomllib

    from server.config import REQUIRED

    wrong = []
    for table, key, cells in config_doc_rows():
        s: Any = _setting(table, key)
        doc_type, doc_default = cells[0], cells[1]
        if s.kind.label not in _DOC_TYPES.get(doc_type, set()):
            wrong.append(f"{table}.{key}: documented as {doc_type!r}, the parser takes {s.kind.label}")
        if doc_default == "required":
            ok = s.default is REQUIRED
        elif doc_default == "unset":
            ok = s.default is None
        elif doc_default == "see below":
            ok = s.kind.label == "an array of tables" and bool(s.default)
        elif m := _FIRST_CODE.match(doc_default):
            value = tomllib.loads(f"v = {m.group(1)}")["v"]
            value = tuple(value) if isinstance(value, list) else value
            ok = value == s.default and isinstance(value, bool) == isinstance(s.default, bool)
        else:
            ok = False
        if not ok:
            wrong.append(f"{table}.{key}: documented default {doc_default!r}, the code's is {s.default!r}")
    assert not wrong, "docs/config.md disagrees with server/config.py:\n" + "\n".join(wrong)


_DOTTED_KEY = re.compile(r"(?<![\w./-])([a-z_]+)\.([a-z_0-9]+)\b(?![./]\w)")
_FILE_TYPES = {"md", "py", "key", "json", "jsonl", "toml", "db", "sock", "txt", "html", "js", "css"}  # retention.md


def test_dotted_config_keys_in_the_docs_exist():
    """Every ``section.key`` the docs, the README and examples/ write, for a config section, names a
    key of that section (``server.app`` and the like, modules of the server package, excepted)."""
    import dataclasses

    keys = {t: {f.name for f in dataclasses.fields(c)} for t, c in config_specs().items() if "." not in t}
    deliberate = {"limits.max_member"}  # config.md's example of a misspelt key
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").iterdir())]
    wrong = []
    for doc in docs:
        for section, key in _DOTTED_KEY.findall(doc.read_text(encoding="utf-8")):
            if section not in keys or key in keys[section] or f"{section}.{key}" in deliberate or key in _FILE_TYPES:
                continue
            if section == "server" and ((ROOT / "server" / key).is_dir() or (ROOT / "server" / f"{key}.py").is_file()):
                continue
            wrong.append(f"{doc.name}: {section}.{key}")
    assert not wrong, "the docs name config keys that do not exist:\n" + "\n".join(sorted(set(wrong)))


_DEFAULT_IN_PROSE = re.compile(r"`([a-z_]+)\.([a-z_0-9]+)`[^`.;]{0,40}?default:? \**(\d[\d,]*(?:\.\d+)?)\**"
                               r"(?: ?(MiB|days?|s\b|hours?))?")


def test_defaults_stated_in_the_docs_prose_are_the_codes():
    """"`section.key` ... (default N [unit])" anywhere in the docs states the key's real default."""
    specs = config_specs()
    wrong, checked = [], 0
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for m in _DEFAULT_IN_PROSE.finditer(doc.read_text(encoding="utf-8")):
            section, key, number, unit = m.groups()
            if section not in specs or "." in section:
                continue
            seconds = key.endswith("_seconds")
            scale = {"MiB": 1 << 20, "day": 86400 if seconds else 1, "hour": 3600 if seconds else 1}
            value = float(number.replace(",", "")) * scale.get((unit or "").rstrip("s"), 1)
            default = _setting(section, key).default
            checked += 1
            if value != default:
                wrong.append(f"{doc.name}: {' '.join(m.group(0).split())!r}, but the default is {default!r}")
    assert checked >= 30, "the docs' statements of defaults were not found"
    assert not wrong, "the docs state defaults the code does not have:\n" + "\n".join(wrong)


def test_environment_variables_in_the_docs_are_keys():
    """Every ``QUNGUAN_<SECTION>_<KEY>`` the docs, the README and examples/ write sets a real key (the
    parser's own reading of the environment decides); variables of no section are not config."""
    from server.config import env_overrides

    # the variable deploy.md and compose.yaml name in identity.key_env; config.md's misspelt example, and
    # the variable it says is refused ([[operators]] come from the file only)
    not_keys = {"QUNGUAN_IDENTITY_KEY", "QUNGUAN_SERVER_PROT", "QUNGUAN_OPERATORS"}
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").iterdir())]
    wrong = []
    for doc in docs:
        for var in sorted(set(re.findall(r"\bQUNGUAN_[A-Z0-9_]*[A-Z0-9]\b", doc.read_text(encoding="utf-8")))):
            problems = env_overrides({}, {var: "1"})
            if problems and var not in not_keys:
                wrong.append(f"{doc.name}: {problems[0]}")
    assert not wrong, "the docs name QUNGUAN_* variables that set no key:\n" + "\n".join(wrong)


def _problems_for(table: str, key: str, value: object) -> list[str]:
    """The problems parse_config reports for ``key`` set to ``value`` (nothing else set but what an
    array's table requires)."""
    from pathlib import Path

    from server.config import INT, REQUIRED, STR, ConfigError, parse_config

    section, _, array = table.partition(".")
    item: dict[str, object] = {key: value}
    if array or table == "operators":
        import dataclasses

        from server import config

        for f in dataclasses.fields(config_specs()[table]):
            s = f.metadata.get(config._SETTING)
            if s is not None and s.default is REQUIRED and f.name != key:
                item[f.name] = "x" if s.kind is STR else 0 if s.kind is INT else 0.0
        if table == "operators":
            item.update(role="operator", unix_user="0")
    data: dict[str, object] = ({section: {array: [item]}} if array else
                               {"operators": [item]} if table == "operators" else {section: item})
    try:
        parse_config(data, Path("."))
    except ConfigError as err:
        at = f"{section}.{array}[0].{key}" if array else f"operators[0].{key}" if table == "operators" \
            else f"{section}.{key}"
        return [str(p) for p in err.problems if p.key == at]
    return []


def test_config_doc_ranges_are_the_codes():
    """A numeric key's documented bound ("≥ N", "> N", "A–B", at the start of its constraint, or of
    its meaning where the table has no constraint column) is where the parser starts refusing."""
    from server.config import FLOAT, INT

    wrong, probed = [], 0
    for table, key, cells in config_doc_rows():
        s: Any = _setting(table, key)
        if s.kind not in (INT, FLOAT) or len(cells) < 3:
            continue
        cell = cells[2]
        step = 1 if s.kind is INT else 0.001

        def num(text: str, kind: Any = s.kind) -> float:
            return int(text.replace(",", "")) if kind is INT else float(text.replace(",", ""))

        expect: list[tuple[float, bool]] = []  # (value, accepted?)
        if m := _RANGE.match(cell):
            lo, hi = num(m.group(1)), num(m.group(2))
            expect = [(lo, True), (hi, True), (lo - step, False), (hi + step, False)]
        elif m := _AT_LEAST.match(cell):
            n = num(m.group(1))
            expect = [(n, True), (n - step, False)]
        elif m := _ABOVE.match(cell):
            n = num(m.group(1))
            expect = [(n + step, True), (n, False)]
        elif s.checks:
            wrong.append(f"{table}.{key}: the code bounds it, docs/config.md states no bound ({cell[:40]!r})")
        for value, accepted in expect:
            probed += 1
            problems = _problems_for(table, key, value)
            if accepted == bool(problems):
                wrong.append(f"{table}.{key} = {value!r}: documented as {'accepted' if accepted else 'refused'}, "
                             f"the parser {'refuses it: ' + problems[0] if problems else 'accepts it'}")
    assert probed >= 100, "the range rows of docs/config.md were not found"
    assert not wrong, "docs/config.md's ranges disagree with server/config.py:\n" + "\n".join(wrong)


def main() -> int:
    changed = rewrite_governance_doc()
    print(f"{GOVERNANCE_DOC.relative_to(ROOT)}: " + ("permission table rewritten" if changed else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())


# computed from storage.url; the reserved_names file's text as the load read it: not keys
DERIVED_CONFIG_FIELDS = {"storage.sqlite_file", "public_accounts.reserved_text"}


def test_config_doc_names_every_key():
    """Every key the config parser knows appears in docs/config.md."""
    import dataclasses

    from server.config import Config

    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    missing = []
    for section in dataclasses.fields(Config):
        cls = section.metadata.get(next(iter(section.metadata), None)) if section.metadata else None
        if cls is None:
            continue
        if f"[{section.name}]" not in text:
            missing.append(f"[{section.name}]")
        for f in dataclasses.fields(cls):
            key = f"{section.name}.{f.name}"
            if key in DERIVED_CONFIG_FIELDS:
                continue
            if f"`{f.name}`" not in text and f"[[{key}]]" not in text:
                missing.append(key)
    assert not missing, f"docs/config.md does not document: {missing}"
