from governance.audit import GENESIS, entry_hash, first_broken


def chain(n):
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        e = {"id": i, "ts": 1000 + i, "actor_type": "user", "actor_id": "u1", "action": "kick",
             "group_id": "123456789", "target_id": f"u{i}", "reason": "", "detail": "{}"}
        e["prev_hash"], e["hash"] = prev, entry_hash(prev, e)
        prev = e["hash"]
        out.append(e)
    return out


def test_whole_chain_verifies():
    assert first_broken(chain(5)) is None
    assert first_broken([]) is None


def test_edited_entry_is_named():
    entries = chain(5)
    entries[2]["reason"] = "edited"
    assert first_broken(entries) == 3


def test_deleted_entry_breaks_the_next():
    entries = chain(5)
    del entries[1]
    assert first_broken(entries) == 3


def test_rehashed_edit_still_breaks_the_following_link():
    entries = chain(4)
    entries[1]["reason"] = "edited"
    entries[1]["hash"] = entry_hash(entries[1]["prev_hash"], entries[1])
    assert first_broken(entries) == 3
