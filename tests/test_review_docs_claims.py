"""Claims of the docs that the code does not back (review of docs vs code).

docs/config.md: "`[admin] socket` may not name the database, the identity key file, the checkpoint file or
the config itself (and `serve` refuses to start, rather than remove it, when anything but a stale socket is
at that path)". check-config refuses the socket on an explicit ``identity.key_file``, but not on the key file
the server uses when none is named (``dev_mode``: ``identity.key`` beside the SQLite database): it says ``OK``
and ``serve`` then refuses to start, at every start, with the key it has just created sitting at the socket's
path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def qunguan(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUNGUAN_")}
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**env, "PYTHONPATH": str(ROOT)})


def test_check_config_refuses_the_socket_on_the_default_identity_key_file(tmp_path):
    config = tmp_path / "q.toml"
    # No identity.key_file: in dev_mode (the default) the key is identity.key beside the database.
    config.write_text('[server]\nport = 0\n[storage]\nurl = "sqlite:///data/q.db"\n'
                      '[admin]\nsocket = "data/identity.key"\n', encoding="utf-8")
    (tmp_path / "data").mkdir()
    check = qunguan("check-config", str(config), cwd=tmp_path)
    serve = qunguan("serve", "--config", str(config), cwd=tmp_path)  # refused, however it finds out
    assert serve.returncode == 2 and "admin.socket" in serve.stderr, serve
    assert check.returncode == 2, (
        "check-config passed a config whose operator socket is the identity key file, which serve refuses: "
        + check.stdout)
    assert "admin.socket" in check.stdout and "identity" in check.stdout, check.stdout


def test_check_config_refuses_the_socket_on_the_explicit_identity_key_file(tmp_path):
    """The case that holds (for contrast): an explicit key_file is compared."""
    (tmp_path / "k.key").write_text("0" * 64 + "\n", encoding="utf-8")
    config = tmp_path / "q.toml"
    config.write_text('[admin]\nsocket = "k.key"\n[identity]\nkey_file = "k.key"\n', encoding="utf-8")
    check = qunguan("check-config", str(config), cwd=tmp_path)
    assert check.returncode == 2 and "is identity.key_file" in check.stdout, check


def test_check_config_refuses_the_records_checkpoints_written_into_the_database(tmp_path):
    """A review found ``audit.checkpoint_file = "qunguan.db"`` passed and served, the record then
    kept no checkpoint at all (the database's lines are none), warning of each at every check."""
    config = tmp_path / "q.toml"
    config.write_text('[storage]\nurl = "sqlite:///qunguan.db"\n[audit]\ncheckpoint_file = "qunguan.db"\n',
                      encoding="utf-8")
    check = qunguan("check-config", str(config), cwd=tmp_path)
    assert check.returncode == 2, check
    assert "audit.checkpoint_file" in check.stdout and "storage's database" in check.stdout, check.stdout
