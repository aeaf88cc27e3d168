"""Files and paths an operator names to ``qunguan admin``: anything that is not what the command reads or
writes is refused with one line, exit 2, and left as it was.

Found by a review that fed every command bad arguments: a pipe given to ``verify-audit`` or
``set-agreement`` held the command for ever, ``/dev/zero`` filled the memory, ``backup`` renamed its copy
over a pipe (or, as root, over ``/dev/null``), a path it could not look up was an internal error.
"""

from __future__ import annotations

import os
import stat

import pytest


def refused(rc: int, out: str, err: str) -> bool:
    return rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and "internal" not in err


async def test_backup_refuses_what_it_cannot_look_up_or_would_replace(server, tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for out in (tmp_path / ("n" * 300), loop, fifo):
        rc, stdout, err = await server.admin("backup", "--out", str(out))
        assert refused(rc, stdout, err), (out.name[:20], rc, stdout, err)
    assert "not a regular file" in (await server.admin("backup", "--out", str(fifo)))[2]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the pipe it was


@pytest.mark.parametrize("option", ["--manifest", "--checkpoint-file"])
async def test_verify_audit_refuses_a_pipe_or_a_device(server, tmp_path, option):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        rc, out, err = await server.admin("verify-audit", option, path)
        assert refused(rc, out, err) and "not a regular file" in err, (path, rc, out, err)


async def test_set_agreement_refuses_a_pipe_or_a_device_and_reads_lines_as_text(server, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    rules = tmp_path / "rules.txt"
    rules.write_bytes("第一条\r\n第二条\r\n".encode())
    for path in (str(fifo), "/dev/zero"):
        rc, out, err = await server.admin("set-agreement", "--version", "v1", "--rules-file", path,
                                          "--agreement-file", str(rules))
        assert refused(rc, out, err) and "--rules-file" in err and "not a regular file" in err, (path, err)
    rc, out, err = await server.admin("set-agreement", "--version", "v1", "--rules-file", str(rules),
                                      "--agreement-file", str(rules))
    assert rc == 0, err
    c = await server.user()
    assert (await c.request("agreement"))["rules"] == "第一条\n第二条\n"  # (line ends as a text file's)
    await c.close()


async def test_an_outcome_names_the_numbers_the_operator_typed_as_typed(server):
    """A run of 13 digits in a text outcome is taken for a time and spelled as a date, unless the
    operator typed it (a term, a version)."""
    rc, out, err = await server.admin("remove-term", "1234567890123", "--reason", "数字串")
    assert rc == 0, err
    assert out.strip() == "removed 0 messages, 0 posts and 0 comments containing '1234567890123'", out


async def test_an_address_export_refuses_an_ipv6_zone(server, tmp_path):
    for address in ("fe80::1%a\nb", "fe80::1%" + "z" * 100_000):
        rc, out, err = await server.admin("export", "--address", address, "--out", str(tmp_path / "case"))
        assert refused(rc, out, err) and "--address must be one IP address" in err, (rc, out, err[:200])
        assert not (tmp_path / "case").exists()


async def test_a_refusal_of_a_number_or_a_time_says_the_range_it_must_fall_in(server):
    """A --limit past any id was told it "must be a whole number above 0"; a date without a zone on the
    first day (read in UTC+8, so before the epoch) was told times go "from 1970-01-01": both true-sounding
    and unhelpful. Each now says the range as it is."""
    rc, out, err = await server.admin("review-queue", "--limit", str(10**23))
    assert refused(rc, out, err) and f"from 1 to {2**63 - 1}" in err, err
    rc, out, err = await server.admin("export", "--user", "nobody", "--since", "1970-01-01", "--out", "/tmp/x")
    assert refused(rc, out, err) and "1970-01-01T00:00Z, 08:00 in UTC+8," in err, err
