"""Named operators: the role table (governance/operators.py) and docs/operator.md agree, and every
``qunguan admin`` command has a row.

docs/operator.md carries the table generated from ``governance.operators.permission_rows()``
between two markers; ``python -m tests.test_operator_roles`` rewrites the block.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_DOC = ROOT / "docs" / "operator.md"
BEGIN = "<!-- operator-roles:begin -->"
END = "<!-- operator-roles:end -->"
REGENERATE = "python -m tests.test_operator_roles"


def role_table() -> str:
    from governance.operators import ROLE_ORDER, permission_rows

    lines = ["| command | " + " | ".join(f"`{r}`" for r in ROLE_ORDER) + " |",
             "|---|" + "---|" * len(ROLE_ORDER)]
    for action, allowed in permission_rows():
        name = f"`{action}`" if " " not in action else f"`{action.split(' ', 1)[0]}` {action.split(' ', 1)[1]}"
        lines.append(f"| {name} | " + " | ".join("yes" if allowed[r] else "no" for r in ROLE_ORDER) + " |")
    return "\n".join(lines)


def _block(text: str) -> str:
    start = text.index(BEGIN) + len(BEGIN)
    return text[start:text.index(END, start)].strip("\n")


def rewrite() -> bool:
    text = OPERATOR_DOC.read_text(encoding="utf-8")
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END, start)
    new = text[:start] + "\n" + role_table() + "\n" + text[end:]
    if new == text:
        return False
    OPERATOR_DOC.write_text(new, encoding="utf-8")
    return True


def test_role_table_in_docs_matches_the_code():
    text = OPERATOR_DOC.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert _block(text) == role_table(), (
        "docs/operator.md's operator-role table is out of date with governance/operators.py; "
        f"run `{REGENERATE}`"
    )


def test_every_admin_command_has_a_row():
    """A command missing from the table would be refused to every named operator."""
    from governance.operators import PERMISSIONS
    from tests.test_docs import admin_commands

    missing = [c for c in admin_commands() if c not in PERMISSIONS]
    assert not missing, f"governance/operators.py PERMISSIONS has no row for: {missing}"
    unknown = [c for c in PERMISSIONS if " " not in c and c not in admin_commands()]
    assert not unknown, f"PERMISSIONS names commands the CLI does not have: {unknown}"


def test_a_reviewer_decides_but_does_not_sanction():
    from governance.operators import LIFT_BLACKLIST, may, refusal

    assert may("reviewer", "decide") and may("reviewer", "resolve") and may("reviewer", "review-queue")
    for cmd in ("blacklist", "close-group", "warn-group", "lift", "export", "rotate-key"):
        assert not may("reviewer", cmd), cmd
    assert may("operator", "blacklist") and may("operator", "lift") and not may("operator", LIFT_BLACKLIST)
    assert not may("operator", "seal-record") and may("content_safety_officer", "seal-record")
    assert all(may("content_safety_officer", c) for c in ("blacklist", LIFT_BLACKLIST, "export", "purge"))
    assert refusal("李四", "reviewer", "blacklist") == (
        "李四 (reviewer) may not run blacklist: it needs content_safety_officer or operator")
    assert refusal("李四", "reviewer", "decide") is None
    assert not may("content_safety_officer", "no-such-command")


# What only the content safety officer may run, and what a reviewer may not, written out here apart
# from the docs' table (which the test above compares with the code, and would follow a change of it).
OFFICER_ONLY = ("export", "release-hold", "purge", "backup", "seal-record", "set-agreement", "rotate-key")
NOT_FOR_REVIEWERS = ("warn-group", "suspend-group", "close-group", "suspend-admin", "revoke-create", "credit",
                     "blacklist", "lift", "decide-appeal", "notice", "freeze-category", "remove-term", "hold")


def test_what_carries_identity_data_or_removes_records_is_the_officers_alone():
    from governance.operators import LIFT_BLACKLIST, may

    for cmd in (*OFFICER_ONLY, LIFT_BLACKLIST):
        assert may("content_safety_officer", cmd), cmd
        assert not may("operator", cmd) and not may("reviewer", cmd), cmd
    for cmd in NOT_FOR_REVIEWERS:
        assert may("operator", cmd) and not may("reviewer", cmd), cmd


def main() -> int:
    changed = rewrite()
    print(f"{OPERATOR_DOC.relative_to(ROOT)}: " + ("operator-role table rewritten" if changed else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
