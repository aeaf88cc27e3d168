import itertools

import pytest

from governance.codes import CodeBook, given_code
from protocol.errors import ContractError


def fixed(*values):
    it = iter(values)

    def randbelow(n):
        assert n == 1_000_000
        return next(it)

    return randbelow


def test_issue_is_six_digits_zero_padded():
    book = CodeBook()
    assert book.issue("p", 0.0, fixed(42)) == "000042"
    assert book.issue("p", 0.0, fixed(999_999)) == "999999"
    assert book.issue("p", 0.0, fixed(0)) == "000000"


def test_consume_once():
    book = CodeBook()
    code = book.issue("p", 0.0, fixed(123456))
    assert book.consume("p", code, 10.0) is True
    assert book.consume("p", code, 10.0) is False


def test_check_leaves_a_right_code_outstanding_and_counts_a_wrong_one():
    book = CodeBook(max_attempts=3)
    code = book.issue("p", 0.0, fixed(123456))
    assert book.check("p", code, 1.0) is True
    assert book.check("p", code, 1.0) is True  # still outstanding: register uses it up later
    assert book.check("p", "000000", 1.0) is False
    assert book.consume("p", "000000", 1.0) is False
    assert book.consume("p", code, 1.0) is True
    assert book.check("p", code, 1.0) is False  # used up
    code = book.issue("p", 0.0, fixed(424242))
    for _ in range(3):
        assert book.check("p", "000000", 1.0) is False
    assert book.check("p", code, 1.0) is False and book.pending("p") is None  # voided by check's guesses
    code = book.issue("p", 0.0, fixed(1))
    assert book.check("p", code, 300.0) is False and book.pending("p") is None  # expired


def test_spent_attempts_void_a_right_code_like_wrong_guesses():
    book = CodeBook(max_attempts=3)
    code = book.issue("p", 0.0, fixed(123456))
    book.spend_attempt("p")
    assert book.check("p", "000000", 1.0) is False
    assert book.check("p", code, 1.0) is True  # two of three attempts spent
    book.spend_attempt("p")
    assert book.check("p", code, 1.0) is False and book.pending("p") is None
    book.spend_attempt("q")  # no code: nothing to spend


def test_expires_after_ttl():
    book = CodeBook(ttl=300)
    code = book.issue("p", 0.0, fixed(1))
    assert book.consume("p", code, 300.0) is False
    book.issue("p", 0.0, fixed(1))
    assert book.consume("p", code, 299.9) is True


def test_wrong_phone_or_no_code():
    book = CodeBook()
    code = book.issue("p", 0.0, fixed(7))
    assert book.consume("q", code, 1.0) is False
    assert book.consume("p", code, 1.0) is True


def test_reissue_replaces_previous():
    book = CodeBook()
    first = book.issue("p", 0.0, fixed(111111))
    second = book.issue("p", 1.0, fixed(222222))
    assert book.consume("p", first, 2.0) is False
    assert book.consume("p", second, 2.0) is True


def test_reissue_resets_attempts_and_ttl():
    book = CodeBook(ttl=300, max_attempts=2)
    book.issue("p", 0.0, fixed(1))
    book.consume("p", "999999", 1.0)
    code = book.issue("p", 200.0, fixed(2))
    book.consume("p", "999999", 201.0)
    assert book.consume("p", code, 450.0) is True


def test_wrong_guesses_void_the_code():
    book = CodeBook(max_attempts=5)
    code = book.issue("p", 0.0, fixed(424242))
    for _ in range(4):
        assert book.consume("p", "000000", 1.0) is False
    assert book.consume("p", code, 1.0) is True

    code = book.issue("p", 0.0, fixed(424242))
    for _ in range(5):
        assert book.consume("p", "000000", 1.0) is False
    assert book.consume("p", code, 1.0) is False


@pytest.mark.parametrize("guess", ["", "12345", "1234567", "１２３４５６", None, 123456])
def test_odd_guesses_are_just_wrong(guess):
    book = CodeBook()
    code = book.issue("p", 0.0, fixed(123456))
    assert book.consume("p", guess, 1.0) is False
    assert book.consume("p", code, 1.0) is True


def test_prune():
    book = CodeBook(ttl=10)
    counter = itertools.count()
    for i in range(5):
        book.issue(f"p{i}", float(i), lambda n: next(counter))
    book.prune(12.0)  # p0 (exp 10), p1 (exp 11), p2 (exp 12) gone
    assert len(book) == 2
    book.prune(100.0)
    assert len(book) == 0


def test_a_code_is_kept_as_a_mac_and_works_once_restored_elsewhere():
    def mac(phone_key, code):
        return f"mac({phone_key},{code})".encode()

    first = CodeBook(ttl=300, mac=mac)
    code = first.issue("p", 0.0, fixed(123456))
    stored = first.pending("p")
    assert stored == (b"mac(p,123456)", 300.0)  # what the MAC function made of it, nothing else
    second = CodeBook(ttl=300, mac=mac)  # another process: only what the store kept
    second.restore("p", *stored)
    assert second.consume("p", "654321", 10.0) is False
    assert second.consume("p", code, 10.0) is True
    assert second.pending("p") is None and second.consume("p", code, 10.0) is False
    late = CodeBook(ttl=300, mac=mac)
    late.restore("p", *stored)
    assert late.consume("p", code, 300.0) is False  # expired on the clock the store kept


@pytest.mark.parametrize(("given", "read"), [
    ("012345", "012345"), (" 123456 ", "123456"), ("\u3000123456\n", "123456"),
    ("", None), ("12345", None), ("1234567", None), ("１２３４５６", None), ("12 456", None),
    ("-12345", None), ("+12345", None), ("abcdef", None), ("12345\x00", None), ("١٢٣٤٥٦", None),
])
def test_given_code_is_six_ascii_digits(given, read):
    if read is not None:
        assert given_code(given) == read
    else:
        with pytest.raises(ContractError) as refused:
            given_code(given)
        assert (refused.value.code, refused.value.extra.get("field")) == ("bad_request", "code")
