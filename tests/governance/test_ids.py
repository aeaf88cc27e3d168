import random
import secrets

import pytest

from governance.ids import is_group_id, is_user_id, new_group_id, new_user_id, serial_id


@pytest.mark.parametrize("digits", [9, 10, 11, 12])
def test_group_id_extremes(digits):
    low = new_group_id(lambda n: 0, digits)
    high = new_group_id(lambda n: n - 1, digits)
    assert low == "1" + "0" * (digits - 1)
    assert high == "9" * digits
    assert is_group_id(low) and is_group_id(high)


def test_group_id_default_is_ten_digits_and_random():
    ids = {new_group_id(secrets.randbelow) for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 10 and is_group_id(i) for i in ids)


def test_group_id_draws_over_the_whole_range():
    seen = []
    new_group_id(lambda n: seen.append(n) or 0, 9)
    assert seen == [900_000_000]


def test_group_id_uses_the_given_source():
    a = new_group_id(random.Random(1).randrange)
    b = new_group_id(random.Random(1).randrange)
    assert a == b


@pytest.mark.parametrize("digits", [8, 13, 0])
def test_group_id_digits_out_of_range(digits):
    with pytest.raises(ValueError):
        new_group_id(secrets.randbelow, digits)


@pytest.mark.parametrize(
    "s,ok",
    [
        ("123456789", True),
        ("999999999999", True),
        ("12345678", False),
        ("1234567890123", False),
        ("012345678", True),  # the contract: 9 to 12 decimal digits (issued ids never start with 0)
        ("12345678a", False),
        ("１２３４５６７８９", False),
        ("123456789\n", False),
        (123456789, False),
        (None, False),
    ],
)
def test_is_group_id(s, ok):
    assert is_group_id(s) is ok


def test_user_id():
    uid = new_user_id(secrets.token_hex)
    assert uid.startswith("u") and len(uid) == 17
    assert is_user_id(uid)
    assert new_user_id(lambda n: "ab" * n) == "u" + "ab" * 8
    assert not is_user_id("u" + "A" * 16)
    assert not is_user_id("x" + "a" * 16)


@pytest.mark.parametrize(("text", "n"), [
    ("7", 7), ("10", 10), ("9" * 18, int("9" * 18)),
    ("0", None), ("07", None), (" 7", None), ("7\n", None), ("+7", None), ("-7", None), ("７", None),
    ("٧", None), ("", None), ("1" * 19, None), ("7.0", None),
])
def test_serial_id_reads_only_the_spelling_issued(text, n):
    assert serial_id(text) == n
