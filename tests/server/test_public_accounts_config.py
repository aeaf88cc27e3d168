"""``[public_accounts]``: defaults, the reserved-name file, the account credit levels."""

from __future__ import annotations

import pytest

from governance.ids import is_account_id, new_account_id
from governance.public_accounts import DEFAULT_ACCOUNT_LEVELS, AccountLevel
from server.config import ConfigError, parse_config


def test_defaults():
    cfg = parse_config({}, base_dir=".").public_accounts
    assert (cfg.max_per_subject, cfg.max_editors, cfg.initial_credit) == (2, 5, 100)
    assert "news" in cfg.categories and "government" in cfg.categories
    assert cfg.reserved_names is None and cfg.reserved == ()
    assert cfg.levels == DEFAULT_ACCOUNT_LEVELS


def test_reserved_names_file_is_read_relative_to_the_config(tmp_path):
    (tmp_path / "reserved.txt").write_text("# the platform's own\n新华\n\n  People's Daily  \n", encoding="utf-8")
    cfg = parse_config({"public_accounts": {"reserved_names": "reserved.txt"}}, base_dir=tmp_path).public_accounts
    assert cfg.reserved_names == tmp_path / "reserved.txt"
    assert cfg.reserved == ("新华", "People's Daily")


@pytest.mark.parametrize("content,why", [(None, "file not found"), (b"\xff\xfe\x00bad", "not UTF-8")])
def test_reserved_names_file_problems(tmp_path, content, why):
    if content is not None:
        (tmp_path / "reserved.txt").write_bytes(content)
    with pytest.raises(ConfigError) as err:
        parse_config({"public_accounts": {"reserved_names": "reserved.txt"}}, base_dir=tmp_path)
    [problem] = err.value.problems
    assert problem.key == "public_accounts.reserved_names" and why in problem.why


def test_levels():
    levels = [{"min_score": 0, "publish_interval_seconds": 60, "comments": False}, {"min_score": 50}]
    cfg = parse_config({"public_accounts": {"levels": levels}}, base_dir=".").public_accounts
    assert cfg.levels == (AccountLevel(0, 60, False), AccountLevel(50, 0, True))
    with pytest.raises(ConfigError) as err:
        parse_config({"public_accounts": {"levels": list(reversed(levels))}}, base_dir=".")
    assert err.value.problems[0].key == "public_accounts.levels[1].min_score"
    with pytest.raises(ConfigError):
        parse_config({"public_accounts": {"max_per_subject": 0, "levels": []}}, base_dir=".")


def test_account_ids_have_the_form_of_group_ids():
    ids = {new_account_id(lambda n, i=i: (i * 7919) % n) for i in range(50)}
    assert len(ids) == 50 and all(is_account_id(i) and len(i) == 10 for i in ids)
