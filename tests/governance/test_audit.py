import json

import pytest

from governance.audit import (
    GENESIS,
    ORIGIN,
    Checkpoint,
    Finding,
    Sealing,
    Tip,
    entry_hash,
    entry_mac,
    first_broken,
    head,
    head_problem,
    next_link,
    parse_checkpoints,
    record_key,
    sealable,
    verify,
)


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


KEY = b"k" * 32


def keyed(n, key=KEY):
    out, prev = chain(n), GENESIS
    for e in out:
        e["mac"] = prev = entry_mac(key, prev, e)
    return out


def test_keyed_chain_verifies_with_its_key_only():
    entries = keyed(5)
    assert verify(entries, KEY) == Finding(True, 5)
    found = verify(entries, b"x" * 32)
    assert not found.whole and found.broken_at == 1 and "key" in found.why


@pytest.mark.parametrize(
    ("tamper", "at", "why"),
    [
        (lambda es: es[2].update(reason="edited"), 3, "hash"),
        (lambda es: es.pop(1), 2, "missing"),
        (lambda es: es[3].update(mac=None), 4, "mac"),
    ],
)
def test_tampering_is_named(tamper, at, why):
    entries = keyed(5)
    tamper(entries)
    found = verify(entries, KEY)
    assert (found.whole, found.broken_at) == (False, at) and why in found.why


def test_rechained_without_the_key_fails_on_the_mac():
    entries = keyed(4)
    entries[1]["reason"] = "edited"
    prev_hash, prev_mac = GENESIS, GENESIS
    for e in entries:
        e["prev_hash"], e["hash"] = prev_hash, entry_hash(prev_hash, e)
        e["mac"] = entry_mac(b"guess", prev_mac, e)
        prev_hash, prev_mac = e["hash"], e["mac"]
    assert first_broken(entries) is None  # the unkeyed chain alone would pass
    assert verify(entries, KEY).broken_at == 1


def test_checkpoints_catch_a_removed_tail_and_a_replaced_head():
    entries = keyed(6)
    cp = head(entries, ts=99)
    assert cp == Checkpoint(99, 6, 6, entries[-1]["mac"])
    assert verify(entries, KEY, [cp]).whole
    shorter = entries[:4]
    found = verify(shorter, KEY, [cp])
    assert not found.whole and found.broken_at == 6 and "removed" in found.why
    other = keyed(6, key=KEY)
    other[5]["reason"] = "replaced"
    other[5]["hash"] = entry_hash(other[5]["prev_hash"], other[5])
    other[5]["mac"] = entry_mac(KEY, other[4]["mac"], other[5])  # even with the key: the checkpoint disagrees
    assert verify(other, KEY, [cp]).broken_at == 6
    assert head([], 1) == Checkpoint(1, 0, 0, GENESIS)
    assert record_key(b"s") != record_key(b"t") and len(record_key(b"s")) == 32


def tip(e):
    return Tip(e["id"], e["hash"], e["mac"])


def test_the_next_entry_continues_from_the_last_one_appended_never_from_whatever_is_last():
    es = keyed(5)
    first = next_link(ORIGIN, None, None)
    assert (first.id, first.prev_hash, first.prev_mac, first.amiss) == (1, GENESIS, GENESIS, None)
    whole = next_link(tip(es[4]), tip(es[4]), tip(es[4]))
    assert (whole.id, whole.prev_hash, whole.amiss) == (6, es[4]["hash"], None)
    # The last two removed: the id after the head, linked to it; the gap stays.
    cut = next_link(tip(es[4]), tip(es[2]), None)
    assert (cut.id, cut.prev_hash, cut.prev_mac) == (6, es[4]["hash"], es[4]["mac"]) and "removed" in cut.amiss
    # ... and the head row moved back too: this process's own last entry decides.
    moved = next_link(tip(es[2]), tip(es[2]), tip(es[4]))
    assert (moved.id, moved.prev_hash) == (6, es[4]["hash"]) and "moved back" in moved.amiss
    # An entry written after the head by someone else: never built upon, its id not reused.
    forged = {**es[4], "id": 6, "mac": None}
    past = next_link(tip(es[4]), tip(forged), None)
    assert (past.id, past.prev_hash) == (7, es[4]["hash"]) and "outside the server" in past.amiss
    # Another writer on the same database moved the head on: this process's older entry is no reason.
    other = next_link(tip(es[4]), tip(es[4]), tip(es[2]))
    assert (other.id, other.amiss) == (6, None)
    # No head row: the last entry, and it is said.
    gone = next_link(None, tip(es[4]), None)
    assert gone.id == 6 and "gone" in gone.amiss
    # The head row and the last entry replaced by a forgery under the same id: this process's own
    # entry at that id decides, and it is said (the forgery's mac would otherwise be built upon).
    replaced = Tip(5, "forged-hash", "forged-mac")
    swapped = next_link(replaced, replaced, tip(es[4]))
    assert (swapped.id, swapped.prev_hash, swapped.prev_mac) == (6, es[4]["hash"], es[4]["mac"])
    assert swapped.amiss is not None


def test_only_an_unsealed_beginning_up_to_an_unsealed_head_is_sealable():
    unsealed_head = Tip(3, "h", None)
    assert sealable(1, unsealed_head, False)
    assert not sealable(1, unsealed_head, None)  # the checkpoint file not looked at yet
    assert not sealable(1, unsealed_head, True)  # a checkpoint saw the record sealed
    assert not sealable(4, unsealed_head, False)  # after a sealed entry
    assert not sealable(1, Tip(3, "h", "m"), False)  # the last entry appended has its mac
    assert not sealable(1, None, False) and not sealable(1, ORIGIN, False)


def test_heads_with_a_source_name_it_and_an_empty_mac_checks_presence_only():
    es = keyed(4)
    found = verify(es[:2], KEY, [Checkpoint(5, 4, 4, "", source="what the head row names")])
    assert not found.whole and found.broken_at == 4 and "entry 4 is what the head row names" in found.why
    assert verify(es, KEY, [Checkpoint(5, 4, 4, "", source="x")]).whole
    differs = verify(es, KEY, [Checkpoint(5, 4, 4, "0" * 64, source="the last entry this server appended")])
    assert not differs.whole and "differs from the last entry this server appended" in differs.why


def test_sealing_page_by_page_gives_the_macs_a_keyed_chain_has_and_stops_at_a_broken_link():
    entries = chain(5)
    seal = Sealing(KEY)
    macs = seal.page(entries[:2]) + seal.page(entries[2:])
    assert macs == [(e["mac"], e["id"]) for e in keyed(5)] and not seal.broken
    assert (seal.expected, seal.prev_hash, seal.prev_mac) == (6, entries[-1]["hash"], macs[-1][0])
    damaged = chain(5)
    damaged[3]["reason"] = "edited"  # its hash no longer holds: nothing from it on is sealed
    seal = Sealing(KEY)
    assert [i for _, i in seal.page(damaged)] == [1, 2, 3] and seal.broken
    sealed_already = chain(3)
    sealed_already[0]["mac"] = "f" * 64  # a sealed entry is never sealed again
    assert Sealing(KEY).page(sealed_already) == []


GOOD_MAC = entry_mac(b"k" * 32, GENESIS, {"id": 1})


def _line(**fields):
    return json.dumps({"ts": 1, "count": 1, "last_id": 1, "mac": GOOD_MAC, **fields})


@pytest.mark.parametrize(("mac", "why"), [
    (GOOD_MAC, None),
    (GENESIS, None),  # an empty record's head
    ("", "mac must be 64 hex digits (0-9, a-f), not 0 characters"),
    ("ab12", "mac must be 64 hex digits (0-9, a-f), not 4 characters"),
    (GOOD_MAC + "0", "mac must be 64 hex digits (0-9, a-f), not 65 characters"),
    ("A" * 64, "mac must be 64 hex digits (0-9, a-f), not text with 'A' in it"),
    ("g" + GOOD_MAC[1:], "mac must be 64 hex digits (0-9, a-f), not text with 'g' in it"),
    (" " + GOOD_MAC[1:], "mac must be 64 hex digits (0-9, a-f), not text with ' ' in it"),
])
def test_a_head_mac_is_a_digest_as_the_server_writes_it(mac, why):
    """A mac of any length passed: compared, it only said "differs" of a record that may be whole."""
    assert head_problem({"ts": 1, "count": 1, "last_id": 1, "mac": mac}) == why


def test_a_checkpoint_line_with_a_malformed_mac_is_named_with_its_line_and_why():
    data = "\n".join([_line(), _line(mac="ab12"), "not json", _line(mac=GOOD_MAC.upper()), _line(ts="1")])
    found, bad = parse_checkpoints(data.encode() + b"\n\xff\n")
    assert found == [Checkpoint(1, 1, 1, GOOD_MAC)]
    assert [n for n, _ in bad] == [2, 3, 4, 5, 6]
    assert bad[0] == (2, "the head mac must be 64 hex digits (0-9, a-f), not 4 characters")
    assert bad[1] == (3, "not JSON")
    assert bad[2][1].startswith("the head mac must be 64 hex digits") and "not text with" in bad[2][1]
    assert bad[3] == (5, "the head ts must be a whole number, not text")
    assert bad[4] == (6, "not UTF-8 text")


def test_a_restored_record_written_to_since_is_said_lost_from_the_last_entry_a_checkpoint_still_finds():
    """After a restore the server goes on appending: the old checkpoint file's lines past the restored
    head then name ids that exist again, as other entries. It said "entries from 8 to 8 were removed"
    (entry 7 was lost too) and then "entry 8: it differs", never where the loss began."""
    old = keyed(8)
    lines = [head(old[:k], ts=k) for k in (6, 7, 8)]
    restored = keyed(6)  # the same first six (one key, one chain)
    assert [e["mac"] for e in restored] == [e["mac"] for e in old[:6]]
    nothing_since = verify(restored, KEY, lines)  # nothing written since: the first line past the head says it
    assert nothing_since.broken_at == 7 and nothing_since.why.startswith("entries from 7 to 7 were removed")
    other = [dict(e) for e in keyed(8)]  # entries 7 and 8 written again after the restore, as others
    for e, before in zip(other[6:], other[5:7], strict=True):
        e["reason"] = "after the restore"
        e["prev_hash"], e["hash"] = before["hash"], entry_hash(before["hash"], e)
        e["mac"] = entry_mac(KEY, before["mac"], e)
    assert verify(other, KEY).whole and other[7]["mac"] != old[7]["mac"]
    one_more = verify(other[:7], KEY, [lines[0], lines[2]])  # (the file had no line at 7)
    assert not one_more.whole and one_more.broken_at == 7 and one_more.why.startswith(
        "entries from 7 to 8 were removed, those up to 7 written in their place (entry 6 is still as a checkpoint")
    two_more = verify(other, KEY, [lines[0], lines[2]])
    assert not two_more.whole and two_more.broken_at == 7 and two_more.why.startswith(
        "entries from 7 to 8 were replaced: entry 8 differs from the checkpoint of 8, entry 6 is still")
    assert verify(other, KEY, lines).broken_at == 7  # (a line at 7: its own entry is the first that differs)
    # The server went on writing to the old file after the restore: a line that agrees with the new
    # record, past the lost ones, does not hide where the loss began.
    later = [*lines[::2], head(other, ts=99)]
    found = verify(other, KEY, later)
    assert found.broken_at == 7 and found.why.startswith("entries from 7 to 8 were replaced"), found
