"""Policy for public accounts (P4-P13): pure, no I/O.

Signatures (callers rely on these; keyword arguments with defaults may be added):

- ``check_org_code(code: str) -> None``: an 18-character unified social credit code
  (GB 32100-2015): structure and check character. Raises ``ContractError("bad_request")``.
  Only the canonical form passes (upper case, no spaces), so a key derived from an accepted
  code is one per organisation.
- ``normalize_name(name: str) -> str``: NFKC + casefold, whitespace and invisible format
  characters removed: the plain key under which two account names are "the same name" (and
  so are two that share one of their :func:`name_readings`).
- ``is_stand_in_name(name: str) -> bool``: whether ``name`` reads as the ``公众号 <id>``
  an account shows while its own name is held (not available to anyone).
- ``reserved_hit(name: str, reserved: Iterable[str]) -> str | None``: the first reserved
  name that equals or is contained in ``name`` (both normalized, also with look-alike letters
  read as Latin and an ``rn`` of ``name`` as ``m``), else ``None``.
- ``lookalike_names(name: str) -> tuple[str, ...]``: the keys of ``name`` with letters of other
  scripts that pass for Latin ones read as those (Cyrillic ``Аpple`` as ``apple``): what the two
  checks above compare besides the plain key.
- ``name_readings(name: str) -> frozenset[str]``: the readings an account's name holds among the
  names in use beside its plain key (its :func:`lookalike_names`, one or two): no two accounts share
  one, so ``Аpple`` is no new name beside ``Apple`` (the plain key itself is never folded).
- ``account_level(score: int, levels: Sequence[AccountLevel] = DEFAULT_ACCOUNT_LEVELS) -> int``:
  1-based credit level, computed by the user credit machinery (``governance.tiers``).
- ``publish_interval_seconds(level: int, levels=DEFAULT_ACCOUNT_LEVELS) -> int``: the least
  time between two posts of an account at that level (0 = no limit).
- ``may_open_comments(level: int, levels=DEFAULT_ACCOUNT_LEVELS) -> bool``: whether posts of
  an account at that level may carry comments (``open`` or ``review``).
- ``check_publish(*, status, category, labels, level, last_post_at, now, publisher_verified,
  levels=...) -> None``: every refusal of ``publish`` the policy decides (``forbidden`` /
  ``rate_limited`` / ``verification_required``).
- ``check_profile_edit(*, status) -> None``: whether the account's owner may change its name or
  introduction now (``forbidden`` while closed or suspended).
- ``check_editor(*, id_verified) -> None``: whether a user may be made an editor
  (``verification_required`` without a verified identity).
- ``account_classes(subscribers: int, reads: int, ...) -> dict[str, str]``:
  ``{"subscriber_class": ..., "read_class": ...}`` for tiered management and filing.
- ``LICENSED_CATEGORIES``: categories that publish only with the operator's label of the
  same name (``news``, P8; ``government``, P4).
- ``shown_labels(subject_type: str, granted: Iterable[str]) -> list[str]``: the labels
  ``account_info`` shows: the computed ``organization`` and ``verified`` and the granted ones.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from governance import content
from governance.names import fold_lookalikes, is_default_ignorable
from governance.shown_text import neutral
from governance.tiers import CreditLevel, credit_level
from protocol.errors import ContractError

__all__ = [
    "DEFAULT_ACCOUNT_LEVELS",
    "DEFAULT_READ_CLASSES",
    "DEFAULT_SUBSCRIBER_CLASSES",
    "GRANTABLE",
    "LABELS",
    "LICENSED_CATEGORIES",
    "ORGANIZATION",
    "ORG_CODE_CHARSET",
    "VERIFIED",
    "AccountLevel",
    "ReadClass",
    "SubscriberClass",
    "account_classes",
    "account_level",
    "check_category_open",
    "check_editor",
    "check_org_code",
    "check_profile_edit",
    "check_publish",
    "level_for",
    "lookalike_names",
    "may_open_comments",
    "name_readings",
    "normalize_name",
    "org_check_char",
    "publish_interval_seconds",
    "is_stand_in_name",
    "reserved_hit",
    "shown_labels",
]

# --- unified social credit code (GB 32100-2015) -------------------------------------------

ORG_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # I, O, S, V, Z are never used
_VALUE = {c: i for i, c in enumerate(ORG_CODE_CHARSET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# Registration authority (position 1) -> the category codes (position 2) it issues.
_CATEGORIES: dict[str, str] = {
    "1": "1239",  # establishment offices: organs, public institutions, mass organisations
    "2": "19",  # foreign affairs
    "3": "1234569",  # justice: law firms, notaries, legal services, forensics, arbitration
    "4": "19",  # culture
    "5": "1239",  # civil affairs: social organisations, private non-enterprise units, foundations
    "6": "129",  # tourism
    "7": "129",  # religion
    "8": "19",  # trade unions
    "9": "123",  # market regulation: enterprises, individual businesses, cooperatives
    "A": "19",  # military establishment office
    "N": "1239",  # agriculture: collective economic organisations
    "Y": "1",  # others
}


def org_check_char(first17: str) -> str:
    """The check character for the first 17 characters (which must be in the charset)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ORG_CODE_CHARSET[(31 - total % 31) % 31]


def _bad_org_code(reason: str) -> ContractError:
    """A refused ``org_code``: ``bad_request`` with ``field`` naming it, so a client need not read the reason."""
    return ContractError("bad_request", reason, field="org_code")


def check_org_code(code: str) -> None:
    """Refuse anything that is not a well-formed unified social credit code.

    Layout: registration authority (1), category (1), region code (6 digits), organisation
    code (9, GB 11714 body and check), check character (1). The organisation code's own check
    digit is not verified: codes issued to some categories do not follow it, and the GB 32100
    check character already covers all 17 characters.
    """
    if not isinstance(code, str) or len(code) != 18:
        raise _bad_org_code("org_code must be 18 characters")
    bad = [c for c in code if c not in _VALUE]
    if bad:
        raise _bad_org_code(f"org_code may use only 0-9 and upper-case A-Y without I, O, S, V, Z (found {bad[0]!r})")
    authority, category, region = code[0], code[1], code[2:8]
    if authority not in _CATEGORIES:
        raise _bad_org_code(f"org_code: {authority!r} is not a registration authority code")
    if category not in _CATEGORIES[authority]:
        raise _bad_org_code(f"org_code: {category!r} is not a category of authority {authority!r}")
    if not region.isdigit() or region[0] == "0" or region[0] == "9":
        raise _bad_org_code("org_code: characters 3-8 must be a 6-digit region code")
    if org_check_char(code[:17]) != code[17]:
        raise _bad_org_code("org_code: check character does not match")


# --- names ----------------------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """The comparison key of an account name: ignoring case, width and spaces.

    NFKC folds full-width and compatibility forms; casefold (then NFKC again, since casefold
    may leave non-normalized text) folds case; whitespace, invisible format characters
    (zero-width space, joiners, BOM) and the other characters that show as nothing (variation
    selectors, fillers: Unicode's default-ignorable ones) are dropped so they cannot make a copy
    look new. (A key stored before variation selectors were dropped keeps them.)
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return "".join(c for c in folded
                   if not (c.isspace() or unicodedata.category(c) == "Cf" or is_default_ignorable(c)))


def lookalike_names(name: str) -> tuple[str, ...]:
    """The keys (as :func:`normalize_name` makes them) of each reading of ``name`` with letters of
    other scripts that pass for Latin letters or digits read as those (``governance.names.
    fold_lookalikes``: ``Аpple`` with a Cyrillic А reads as ``apple``): one, or two when ``name`` holds
    something that passes for I and l alike (``AppIe``: ``appie`` and ``apple``). For the reserved
    names, the stand-in and :func:`name_readings`; accounts' stored ``name_key`` stay unfolded."""
    return tuple(normalize_name(s) for s in fold_lookalikes(unicodedata.normalize("NFKC", name)))


def name_readings(name: str) -> frozenset[str]:
    """The readings account name ``name`` holds among the names in use (:func:`lookalike_names`), besides
    its plain key (:func:`normalize_name`): two names are one when they share a reading, so that no
    account takes a name that reads as another's (``Аpple`` with a Cyrillic А beside ``Apple``,
    ``AppIe`` with a capital I beside ``Apple`` or ``Appie``: P7's review of account names, against
    impersonation). A set and not one key, since sharing a reading is no equivalence (``Apple`` and
    ``Appie`` are two names, ``AppIe`` reads as both): the store keeps one account per reading
    (``account_name_readings``). A name without such letters (a Chinese one) reads as its plain key
    alone. Never empty: every visible character keeps something in the key."""
    return frozenset(lookalike_names(name))


def is_stand_in_name(name: str) -> bool:
    """Whether ``name`` reads as the stand-in an account shows while its own name is held or
    removed (``governance.shown_text.neutral``: ``公众号 <account id>``), ignoring case, width,
    spaces and letters of other scripts that pass for Latin ones (an o or l among digits for a 0 or
    1: Cyrillic ``О``, Latin ``O`` and ``l``; ``公众号 lol`` is no stand-in). No account may choose
    it: it would show the same name as the account it stands for (the stand-in's key keeps its
    space, so the unique key alone does not keep them apart)."""
    stem = normalize_name(neutral("account_name", account_id=""))
    for key in lookalike_names(name):
        rest = key[len(stem):]
        if (key.startswith(stem) and all(c in _DIGITS_AND_LOOKALIKES for c in rest)
                and any(c.isdigit() for c in rest)):
            return True
    return False


_DIGITS_AND_LOOKALIKES = frozenset("0123456789ol")


def reserved_hit(name: str, reserved: Iterable[str]) -> str | None:
    """The first reserved name equal to or contained in ``name``, both normalized; also as the word
    lists match (traditional characters as simplified, punctuation left out: ``新華社`` and
    ``新-华社`` are ``新华社``), and with letters of other scripts that pass for Latin letters or
    digits read as those, in either (``Аpple`` and ``ССТV`` with Cyrillic letters are ``Apple`` and
    ``CCTV``: :func:`lookalike_names`), and with an ``rn`` of ``name`` read as ``m`` (``Rnicrosoft`` is
    ``Microsoft``) as the word lists read it (``governance.content.rn_spellings``: an ``m`` of the
    entry spelt ``rn``, never an ``rn`` of the entry read as ``m``, so ``Corning`` reserves no
    ``coming``), since a reserved name is kept from whoever would pose as its holder."""
    keys = {normalize_name(name), *lookalike_names(name)}
    loose = {content.normalize(k) for k in keys}
    for entry in reserved:
        forms = {normalize_name(entry), *lookalike_names(entry)} - {""}
        forms |= {spelling for form in forms for spelling in content.rn_spellings(form)}
        if any(r in k for r in forms for k in keys):
            return entry
        if any(rl in lk for rl in {content.normalize(r) for r in forms} - {""} for lk in loose):
            return entry
    return None


# --- credit levels --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountLevel:
    """Level N applies from ``min_score`` up (P6: service according to credit level)."""

    min_score: int
    publish_interval_seconds: int = 0  # least time between two posts; 0 = no limit
    comments: bool = True  # posts may carry comments (open or review mode)


# A new account has 100 (public_accounts.initial_credit) and a measure costs 20
# (credit.penalty_sanction): one measure leaves the account's service as it was once the
# measure ends, the second lowers it to a post an hour, the fourth to a post a day.
DEFAULT_ACCOUNT_LEVELS: tuple[AccountLevel, ...] = (
    AccountLevel(min_score=0, publish_interval_seconds=86400, comments=False),
    AccountLevel(min_score=40, publish_interval_seconds=3600, comments=True),
    AccountLevel(min_score=80, publish_interval_seconds=0, comments=True),
)


def account_level(score: int, levels: Sequence[AccountLevel] = DEFAULT_ACCOUNT_LEVELS) -> int:
    """1-based level, by the same rule as a user's credit level (``tiers.credit_level``)."""
    return credit_level(score, [CreditLevel(min_score=lv.min_score) for lv in levels])


def level_for(level: int, levels: Sequence[AccountLevel] = DEFAULT_ACCOUNT_LEVELS) -> AccountLevel:
    """The row for a 1-based level, clamped to the table (an empty table allows everything)."""
    if not levels:
        return AccountLevel(min_score=0)
    return levels[max(0, min(level, len(levels)) - 1)]


def starting_standing(initial: int, subjects_lowest: int | None, subjects_restricted: bool) -> tuple[int, bool]:
    """(credit score, comments restricted) of a new account: no better than its subject's worst
    account, open or closed (``subjects_lowest``: their lowest score, None when it has none), so that
    closing an account and opening another sheds neither a lowered credit nor a comment restriction
    (P6: the credit of the service's users; P12)."""
    score = initial if subjects_lowest is None else min(initial, subjects_lowest)
    return score, subjects_restricted


def publish_interval_seconds(level: int, levels: Sequence[AccountLevel] = DEFAULT_ACCOUNT_LEVELS) -> int:
    return level_for(level, levels).publish_interval_seconds


def may_open_comments(level: int, levels: Sequence[AccountLevel] = DEFAULT_ACCOUNT_LEVELS) -> bool:
    return level_for(level, levels).comments


LABELS = ("news", "government")  # the licences license-account grants
LICENSED_CATEGORIES = frozenset(LABELS)  # P8 news, P4 government: publish only when licensed
VERIFIED = "verified"  # an ID-verified person runs it, or the platform confirmed the organisation
ORGANIZATION = "organization"  # run by an organisation (shown, never granted)
GRANTABLE = (*LABELS, VERIFIED)  # what license-account grants; "verified" only to organisation accounts


def shown_labels(subject_type: str, granted: Iterable[str]) -> list[str]:
    """The labels anyone sees on an account (P7 labels).

    An individual account is ``verified``: it was opened by an ID-verified person, who is its
    subject. An organisation account is labelled ``organization``, and ``verified`` only once the
    platform confirmed the organisation (``granted`` holds it): its code is checked for form when
    the account is opened, not against the register. Then the licences, in the order granted.
    """
    granted = list(granted)
    out: list[str] = []
    if subject_type == "organization":
        out.append(ORGANIZATION)
        if VERIFIED in granted:
            out.append(VERIFIED)
    else:
        out.append(VERIFIED)
    return out + [x for x in granted if x != VERIFIED]


def check_category_open(category: str, frozen_until: int, now: int) -> None:
    """An account may be opened in ``category`` only while the platform has not frozen it
    (``freeze-category --accounts``, P5 emergency handling): until ``frozen_until`` it is
    ``forbidden``, so a fresh account cannot sidestep a freeze of its category."""
    if frozen_until > now:
        raise ContractError("forbidden", f"the platform has frozen the public-account category {category} for "
                                         "now; no account can be opened in it", until=frozen_until)


def check_publish(
    *,
    status: str,
    category: str,
    labels: Iterable[str],
    level: int,
    last_post_at: int,
    now: int,
    publisher_verified: bool,
    levels: Sequence[AccountLevel] = DEFAULT_ACCOUNT_LEVELS,
) -> None:
    """Every refusal of ``publish`` that policy decides; times in milliseconds.

    ``status`` is ``active``/``restricted``/``suspended``/``closed``: a restricted account
    (comments restricted) may still publish. ``last_post_at`` 0 = never posted.
    ``publisher_verified``: whether the user publishing (the owner or an editor) has a verified
    identity. Every publisher needs one (P6: real identity behind what an account publishes), not
    only the owner who opened it: an editor made before editors had to be verified, or one whose
    identity was never checked, is refused here, whatever the platform's ``require_id_to_post``.
    """
    check_release(status=status, category=category, labels=labels)
    interval_ms = publish_interval_seconds(level, levels) * 1000
    # (a last post later than now, the wall clock stepped back, does not count: see
    # moderation.slow_mode_slot; the post it lets through is the new last one)
    if interval_ms and last_post_at and 0 <= now - last_post_at < interval_ms:
        wait = interval_ms - (now - last_post_at)
        raise ContractError(
            "rate_limited",
            f"at credit level {level} an account may publish once every {interval_ms // 1000} s",
            retry_after_ms=wait,
        )
    if not publisher_verified:
        raise ContractError("verification_required", "publishing for a public account needs a verified identity "
                            "(editors too)")


def check_release(*, status: str, category: str, labels: Iterable[str]) -> None:
    """Whether a post may reach readers now: what ``publish`` checks of the account itself (not its
    pace or who publishes). Also for a held post an operator releases: one released while the
    account is suspended, or no longer licensed, would publish through the measure."""
    if status == "closed":
        raise ContractError("forbidden", "the account is closed")
    if status == "suspended":
        raise ContractError("forbidden", "the account is suspended from publishing")
    if category in LICENSED_CATEGORIES and category not in set(labels):
        raise ContractError("forbidden", f"a {category} account publishes only after the platform grants its licence")


def check_profile_edit(*, status: str, suspended_until: int | None = None) -> None:
    """Whether the owner may change the account's name or introduction now: not once it is closed,
    nor while the platform suspends it (P13 suspension of updates: what the account shows stays as
    it was, as its posts do, until the suspension ends or is lifted). ``suspended_until`` (ms), when
    given, rides on the suspension's refusal as ``until``: a client tells it apart by that field."""
    if status == "closed":
        raise ContractError("forbidden", "the account is closed")
    if status == "suspended":
        raise ContractError("forbidden", "the account is suspended: its name and introduction cannot change "
                            "until the suspension ends",
                            **({} if suspended_until is None else {"until": suspended_until}))


def check_editor(*, id_verified: bool) -> None:
    """Whether a user may be made an editor of an account: editors publish in its name, so they need a
    verified identity like the owner who opened it (P6)."""
    if not id_verified:
        raise ContractError("verification_required", "an editor of a public account needs a verified identity")


# --- classes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriberClass:
    """Accounts with at least ``min_subscribers`` subscribers belong to this class."""

    name: str
    min_subscribers: int


@dataclass(frozen=True, slots=True)
class ReadClass:
    """Accounts whose posts were read at least ``min_reads`` times (in the caller's window)."""

    name: str
    min_reads: int


DEFAULT_SUBSCRIBER_CLASSES: tuple[SubscriberClass, ...] = (
    SubscriberClass("small", 0),
    SubscriberClass("medium", 1000),
    SubscriberClass("large", 100_000),
    SubscriberClass("major", 1_000_000),
)

DEFAULT_READ_CLASSES: tuple[ReadClass, ...] = (
    ReadClass("dormant", 0),
    ReadClass("read", 100),
    ReadClass("popular", 10_000),
    ReadClass("influential", 1_000_000),
)


def account_classes(
    subscribers: int,
    reads: int,
    *,
    subscriber_classes: Sequence[SubscriberClass] = DEFAULT_SUBSCRIBER_CLASSES,
    read_classes: Sequence[ReadClass] = DEFAULT_READ_CLASSES,
) -> dict[str, str]:
    """The classes of an account (P7 tiered management): the highest threshold each count reaches."""
    sub = ""
    for s in subscriber_classes:
        if subscribers >= s.min_subscribers:
            sub = s.name
    rd = ""
    for r in read_classes:
        if reads >= r.min_reads:
            rd = r.name
    return {"subscriber_class": sub, "read_class": rd}
