"""Group moderation rules: bans, slow mode, invite links, and what the group log shows.

Pure policy for ``server/handlers/moderation.py`` and the join paths: plain values
in, a decision (or a :class:`~protocol.errors.ContractError`) out; no I/O.

- :func:`ban_in_force` / :func:`check_not_banned` -- a ban keeps someone out until
  it ends (``until`` 0: until unbanned).
- :func:`check_ban_seconds`, :func:`check_slow_mode_seconds`,
  :func:`check_link_limits` -- the arguments' ranges.
- :func:`slowed` / :func:`slow_mode_slot` -- does slow mode apply to this poster, and
  may they send again now (``send``)?
- :func:`link_usable` -- may an invite link's code still be used? :func:`link_creator_manages`
  -- and does its creator still manage the group (else it stops working too)? :func:`link_admits`
  -- may it admit someone now (also not while its creator's powers are suspended)?
- :func:`log_entry` -- one enforcement-record entry as a group's managers see it.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final

from governance.ids import is_user_id
from governance.posting import acting_role
from protocol.enums import Role
from protocol.errors import ContractError

__all__ = [
    "HIDDEN_ACTIONS",
    "LOG_DEFAULT",
    "LOG_DETAIL_KEYS",
    "LOG_MAX",
    "MAX_BAN_SECONDS",
    "MAX_LINK_SECONDS",
    "MAX_LINK_USES",
    "MAX_MUTE_SECONDS",
    "MAX_SLOW_MODE_SECONDS",
    "REDACTED",
    "ban_in_force",
    "carried_over",
    "check_ban_seconds",
    "check_link_limits",
    "check_mute_seconds",
    "check_not_banned",
    "check_slow_mode_seconds",
    "request_again_in",
    "code_hash",
    "link_admits",
    "link_creator_manages",
    "link_id",
    "link_usable",
    "log_entry",
    "log_limit",
    "redact",
    "slow_mode_slot",
    "slowed",
]

MAX_BAN_SECONDS: Final = 10 * 366 * 86400  # a timed ban of up to ten years; longer: ban until unbanned
MAX_SLOW_MODE_SECONDS: Final = 3600
MAX_MUTE_SECONDS: Final = 30 * 86400  # a group mute lasts at most 30 days
MAX_LINK_USES: Final = 100_000
MAX_LINK_SECONDS: Final = 366 * 86400
LOG_DEFAULT: Final = 50
LOG_MAX: Final = 200

# Record entries about a group that its managers never see in ``group_log``: keeping records
# (legal holds, exports for the authorities) is not a measure on the group, and telling a group
# that it is being preserved or exported would defeat the purpose; content-filter hits would
# reveal the filter's terms; a manager setting a name or announcement the word lists hold
# (``update_group_held``, ``set_announcement_held``: nothing the group sees changed) or taking
# one back is theirs alone (only the author ever sees a held text, ``my_held_texts``); a
# complaint's handling (``resolve_report``) is between its reporter and the platform; a sender
# deleting their own message that the word lists held (``delete_message_held``) was never delivered,
# so its managers do not know it exists, nor does the platform's rejection of one (``review_reject``:
# in a group's record only a held message's; a held name's is ``review_reject_held_text``), nor
# a ``remove-term`` hiding held or rejected ones (``remove_term_held``).
HIDDEN_ACTIONS: Final = ("legal_hold", "release_hold", "export", "content_blocked", "content_flagged",
                          "update_group_held", "set_announcement_held", "withdraw_held_text", "resolve_report",
                          "review_release_held_text", "review_reject_held_text", "delete_message_held",
                          "review_reject", "remove_term_held")

# The only detail fields ``group_log`` passes on. Anything else an entry carries (whoever wrote
# it, and whatever it is) is left out, so identity data can never reach a group's managers.
_ID_KEYS: Final = frozenset({"sanction_id", "item_id", "sanctions_lifted"})
LOG_DETAIL_KEYS: Final = frozenset({
    "seconds", "until", "deadline", "role", "seq", "on", "pinned", "name", "category", "join_policy",
    "announcement", "mute_all", "slow_mode_seconds", "sanction_id", "kind", "outcome", "item_id",
    "link", "max_uses", "expires_at", "note", "sanctions_lifted", "seqs",
})

# Mainland mobile numbers and resident ID numbers, wherever they appear in free text, matched in
# the text as _matchable makes it (full-width and other digits as ASCII ones, every separator as
# " "). A phone number in every form the server itself takes one
# (governance.identity.normalize_phone): an optional +86, 86 or 0086, and separators anywhere
# (139 1234 5678, 139-1234-5678, 139.1234.5678, (139)12345678); an ID number likewise
# (110105 19900307 123X, 110105.19900307.123X), and letters right before or after either do not
# hide it (tel13912345678, id110105199003071234).
# A separator (_is_separator) is whatever people put between digit groups, or between digits to
# slip a number past a filter: any punctuation (Unicode category P: dots, commas, slashes,
# underscores, dashes, brackets and parentheses, full-width ones too), any space or line break
# (Z, and every character str.isspace calls one), the invisible format characters (Cf: zero-width
# spaces and joiners U+200B-U+200D, U+2060, U+FEFF, the soft hyphen, direction marks) and
# combining or enclosing marks (M: an underline U+0332 under a digit, the keycap 1️⃣). Not a
# separator: letters, symbols such as + = ~ | ¥ %, and list marks such as ① or ² (category No).
# ID numbers are matched first: a phone-like run inside one (19900307 123 after a space) would
# otherwise be masked alone, leaving the region code and check character shown.
_PHONE = re.compile(r"(?<![0-9])(?:(?:(?:\+|00) *)?8 *6 *)?1 *[3-9](?: *[0-9]){9}(?![0-9])")
# (An X check character ends the number even with a digit right after it: 11010519900307123X139...)
_ID_NUMBER = re.compile(r"(?<![0-9])[0-9](?: *[0-9]){16} *(?:[Xx]|[0-9](?![0-9]))")
# More digits in one piece than any one number has (an ID number has 18): numbers written together
# (an ID number and a phone number pasted with nothing between), or one with a digit more. Masked
# whole, since where one number ends cannot be told; 18 digits or fewer may be an order number.
_RUN = re.compile(r"[0-9]{19,}")
_SEPARATOR_CATEGORIES: Final = frozenset({"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Zs", "Zl", "Zp", "Cf",
                                          "Mn", "Mc", "Me"})
# Chinese numerals read as digits in a second look at the text (see redact): the everyday ones,
# 幺 (how "one" is said when reading a phone number out), 两 (how "two" often is) and the
# financial (大写) forms, which is how a number is written to get past a filter that looks for
# digits (一三九〇〇〇〇四〇九四).
# Not 十, 百, 千, 万: they are not digits but place values (一百三十九 is 139, spelt out).
_NUMERALS: Final = {c: str(i) for i, cs in enumerate(
    ("〇零○", "一幺壹", "二两兩贰貳", "三叁參", "四肆", "五伍", "六陆陸", "七柒", "八捌", "九玖")) for c in cs}
_BLANK: Final = "#"  # a masked span while the later patterns look: neither a digit nor a separator
# A number split by anything but a plain space or dash (dots, commas, slashes, brackets, invisible
# characters) is taken for a phone or ID number only where such a number is split when written
# (the positions, counted in digits from its start: 139.0000.4094, 110105.19900101.3326) or between
# every digit (1.3.9.0...: a number spaced out to slip past a filter). Otherwise it is a list, an
# amount or an address: 13,800,000,000 元, 192.168.10.100, seqs 13,14,15,16,17,8.
_PLAIN_SEPARATORS: Final = frozenset(" -\u3000\u00a0\t")
_SPLITS: Final = {11: frozenset({3, 7}), 18: frozenset({6, 10, 14})}
# Read with Chinese numerals as digits, a match counts only with at least this many numerals in it: a
# number written out (一三九〇〇〇〇四〇九四, 139八八八八四〇九四), not an id followed by 一直 or 一再.
_MIN_NUMERALS: Final = 3
REDACTED: Final = "[redacted]"


def ban_in_force(until: int, now_ms: int) -> bool:
    """``until``: epoch ms when a timed ban ends; 0 for one that lasts until unbanned."""
    return until == 0 or until > now_ms


def check_not_banned(until: int | None, now_ms: int, caller: bool = True) -> None:
    """``forbidden`` when the user has a ban in force (``until`` None: no ban at all). ``caller``:
    the banned user asked (to join), and the refusal carries ``banned_until``; otherwise a manager
    acted on them (invite, approve) and is told only that the user is banned."""
    if until is None or not ban_in_force(until, now_ms):
        return
    if not caller:
        raise ContractError("forbidden", "that user is banned from this group")
    raise ContractError("forbidden", "banned from this group" + (f" until {until} (epoch ms)" if until else ""),
                        banned_until=until or 0)  # [ext] ms; 0 until unbanned, as in `bans`


def check_ban_seconds(seconds: int | None) -> int:
    """A ban's length: absent or 0 is until unbanned (returned as 0)."""
    if seconds is None:
        return 0
    if not 0 <= seconds <= MAX_BAN_SECONDS:
        raise ContractError("bad_request", f"seconds must be 0 (until unbanned) to {MAX_BAN_SECONDS}")
    return seconds


def carried_over(muted_until: int, last_sent_ms: int, now_ms: int) -> tuple[int, int]:
    """What a member who left (or was removed) brings back when they rejoin: the mute still in
    force (else 0) and their last accepted send while slow mode could still count it (the last
    :data:`MAX_SLOW_MODE_SECONDS`; else 0). Leaving and rejoining must not lift either."""
    return (muted_until if muted_until > now_ms else 0,
            last_sent_ms if last_sent_ms > now_ms - MAX_SLOW_MODE_SECONDS * 1000 else 0)


def check_mute_seconds(seconds: int) -> int:
    """A group mute's length: 0 unmutes."""
    if not 0 <= seconds <= MAX_MUTE_SECONDS:
        raise ContractError("bad_request", f"seconds must be 0 (unmute) to {MAX_MUTE_SECONDS}")
    return seconds


def check_slow_mode_seconds(seconds: int) -> int:
    if not 0 <= seconds <= MAX_SLOW_MODE_SECONDS:
        raise ContractError("bad_request", f"seconds must be 0 (off) to {MAX_SLOW_MODE_SECONDS}")
    return seconds


def slowed(role: Role, powers_suspended_until: int, now_ms: int) -> bool:
    """Whether slow mode applies to a poster: plain members, and owners and admins whose
    management powers the platform suspended (they act as members, as for ``mention_all``:
    :func:`governance.posting.acting_role`)."""
    try:
        return acting_role(role, powers_suspended_until, now_ms) is Role.MEMBER
    except ContractError:  # powers suspended
        return True


def slow_mode_slot(last_sent_ms: int, seconds: int, now_ms: int) -> int:
    """The time to record as the member's last send (``now_ms``) when they may send now;
    ``rate_limited`` with ``retry_after_ms`` while their last send is less than ``seconds`` ago.

    A last send later than ``now_ms`` (the wall clock stepped back, or a new home's clock is behind
    the last one's) does not count: held to it, the member would wait the whole step, an hour for
    an hour's step, told to retry every ``seconds``; instead one message goes through and is the
    new last send."""
    wait = last_sent_ms + seconds * 1000 - now_ms
    if last_sent_ms and wait > 0 and last_sent_ms <= now_ms:
        raise ContractError("rate_limited", f"slow mode: one message per {seconds} s", retry_after_ms=wait)
    return now_ms


def check_link_limits(max_uses: int | None, expires_in_seconds: int | None) -> None:
    if max_uses is not None and not 1 <= max_uses <= MAX_LINK_USES:
        raise ContractError("bad_request", f"max_uses must be 1 to {MAX_LINK_USES}")
    if expires_in_seconds is not None and not 1 <= expires_in_seconds <= MAX_LINK_SECONDS:
        raise ContractError("bad_request", f"expires_in_seconds must be 1 to {MAX_LINK_SECONDS}")


def link_usable(uses: int, max_uses: int | None, expires_at: int | None, revoked: bool, now_ms: int) -> bool:
    return (not revoked and (max_uses is None or uses < max_uses)
            and (expires_at is None or expires_at > now_ms))


def link_creator_manages(creator_role: Role | str | None) -> bool:
    """Whether an invite link still speaks for the group: its creator is the group's owner or
    an admin now. Once they are not (demoted, removed, gone, or ownership passed on), the link
    stops working: the code is only ever shown to its creator, so it does not outlive their
    powers by itself. The remaining managers still see it (``invite_links``) and may revoke it
    by its :func:`link_id` for good."""
    return creator_role is not None and Role(creator_role) in (Role.OWNER, Role.ADMIN)


def link_admits(creator_role: Role | str | None, powers_suspended_until: int, now_ms: int,
                barred: bool = False) -> bool:
    """Whether a usable link may admit someone now: its creator manages the group
    (:func:`link_creator_manages`), the platform has not suspended their management powers
    (a join by their link is their management act, refused while the suspension lasts; the link
    still counts towards the group's cap meanwhile) and has not closed their account (``barred``:
    blacklisted; they keep their memberships, not the power to let people in)."""
    return link_creator_manages(creator_role) and powers_suspended_until <= now_ms and not barred


def code_hash(code: str) -> str:
    """How an invite code is stored and looked up: its SHA-256 (the code itself is never stored)."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def link_id(hashed: str) -> str:
    """A short name for a link in the record and the group log (not enough to use it)."""
    return hashed[:10]


def _is_separator(c: str) -> bool:
    """Whether the number patterns read ``c`` as a separator between digits (see :data:`_PHONE`)."""
    return c.isspace() or unicodedata.category(c) in _SEPARATOR_CATEGORIES


def _matchable(text: str, numerals: bool = False) -> str:
    """``text`` as the number patterns read it, one character for each of ``text``'s (so a masked
    span is the same span of the text as written, the rest of which is left as it was): a decimal
    digit of any script (full-width ``１３９``, Arabic-Indic, ...) as its ASCII digit, every
    separator (:func:`_is_separator`) as ``" "``, and otherwise the character's NFKC form where
    that is one character (``＋``, ``Ｘ``). Only a decimal digit (category Nd) is a digit: ``①``
    or ``²``, whose NFKC form is one, stays a mark beside a number, as in a numbered list; with
    ``numerals``, the Chinese numerals of :data:`_NUMERALS` are digits too."""
    out: list[str] = []
    for c in text:
        digit = unicodedata.decimal(c, None)
        if digit is not None:
            out.append(str(digit))
        elif numerals and c in _NUMERALS:
            out.append(_NUMERALS[c])
        elif _is_separator(c):
            out.append(" ")
        else:
            folded = unicodedata.normalize("NFKC", c)
            out.append(folded if len(folded) == 1 and not folded.isdigit() and not _is_separator(folded)
                       and folded != _BLANK else c)
    return "".join(out)


def _looks_like_an_id(found: str) -> bool:
    """An 18-character run the ID pattern found is masked when it is written in one piece, or,
    written in groups, when its digits 7 to 14 are a birth date (19th to 21st century): lists of
    seqs, timestamps or scores that happen to add up to 18 digits are left as written."""
    digits = found.replace(" ", "")
    if digits == found:
        return True
    year, month, day = digits[6:10], int(digits[10:12]), int(digits[12:14])
    return year[:2] in ("18", "19", "20") and 1 <= month <= 12 and 1 <= day <= 31


def _split_as_written(found: str, seen: str, length: int) -> bool:
    """Whether a match (``found`` as written, ``seen`` as matched: the same length) is split the way a
    phone or ID number is (see _SPLITS), looking at the number's own ``length`` digits (not a +86 in
    front): always true when only plain spaces and dashes split them."""
    places = [i for i, c in enumerate(seen) if c in "0123456789Xx"][-length:]
    own = found[places[0]:]
    if all(c in _PLAIN_SEPARATORS or not _is_separator(c) for c in own):
        return True
    splits = {k for k in range(1, len(places)) if places[k] - places[k - 1] > 1}
    return splits <= _SPLITS[length] or len(splits) == length - 1


def _blanked(look: str, spans: list[tuple[int, int]]) -> str:
    """``look`` with what earlier looks found (``spans``) as blanks: neither digits nor separators."""
    for a, b in spans:
        look = look[:a] + _BLANK * (b - a) + look[b:]
    return look


def mask_name(text: str, name: str) -> str:
    """``text`` with a person's legal ``name`` masked wherever it is written, also with spaces or a
    separator between its characters (``王 五``, ``Wang-Wu``), whatever the case. A name of one
    character is left alone: masking it would mask words. (Phone and ID numbers: :func:`redact`.)"""
    chars = [c for c in name if not (c.isspace() or c in _NAME_SEPARATORS)]
    if len(chars) < 2:
        return text
    if all(_caseless_han(c) for c in chars) and not all(c in text for c in chars):
        return text  # (a reason masks the names of a whole group's members: most are in no reason)
    pattern = f"[\\s{re.escape(_NAME_SEPARATORS)}]*".join(re.escape(c) for c in chars)
    return re.sub(pattern, REDACTED, text, flags=re.IGNORECASE)


# (the middle dots a legal name may be typed with, governance/identity.py, and what else joins a name)
_NAME_SEPARATORS: Final = "·•‧・．∙⋅.-_'"


def _caseless_han(c: str) -> bool:
    """A Han character (the unified ideographs, their extensions, the compatibility ones): no case, so a
    name of them matches only where each of its characters is in the text."""
    return "\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or c >= "\U00020000"


def redact(text: str) -> str:
    """Free text with phone numbers and ID numbers masked, however their digits are written.

    The text is looked at twice for each kind of number, ID numbers first: with only decimal
    digits as digits, then with Chinese numerals as digits too (``一三九〇〇〇〇四〇九四``, or
    ``139八八八八四〇九四``). Each look sees what an earlier one found as a blank, which is neither a
    digit nor a separator, so no two masks overlap and a numeral right beside a number (张三
    13912345678 written without a space) does not make it one digit too long to be seen. Last,
    a run of more digits in one piece than any one number has is masked whole (:data:`_RUN`)."""
    looks = (_matchable(text), _matchable(text, numerals=True))
    spans: list[tuple[int, int]] = []
    for pattern, length in ((_ID_NUMBER, 18), (_PHONE, 11)):
        for numerals, look in enumerate(looks):
            seen = _blanked(look, spans)
            spans += [m.span() for m in pattern.finditer(seen)
                      if (pattern is _PHONE or _looks_like_an_id(m.group()))
                      and (not numerals or sum(c in _NUMERALS for c in text[m.start():m.end()]) >= _MIN_NUMERALS)
                      and _split_as_written(text[m.start():m.end()], m.group(), length)]
    spans += [m.span() for m in _RUN.finditer(_blanked(looks[0], spans))]
    out = text
    for a, b in sorted(spans, reverse=True):  # (they do not overlap)
        while b < len(text) and unicodedata.category(text[b]) in ("Mn", "Mc", "Me", "Cf"):
            b += 1  # a mark or invisible character on the last digit (1️⃣, an underline) goes with it
        out = out[:a] + REDACTED + out[b:]
    return out


def _shown(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_shown(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return None  # nested objects are not shown


def log_entry(entry_id: int, ts: int, actor_type: str, actor_id: str | None, action: str,
              target_id: str | None, reason: str, detail: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """One enforcement-record entry as ``group_log`` shows it to a group's owner and admins.

    ``id`` is a string, as every id of the contract is.
    ``actor`` is the managing user's id, or ``"platform"`` for operators (never their names)
    and the system; ``target_user_id`` only when the target is a user; ``detail`` keeps only
    the fields of :data:`LOG_DETAIL_KEYS` and the reason, with phone and ID numbers masked.
    """
    out: dict[str, Any] = {"id": str(entry_id), "ts": ts, "action": action,
                           "actor": actor_id if actor_type == "user" and actor_id else "platform"}
    if is_user_id(target_id):
        out["target_user_id"] = target_id
    raw = json.loads(detail) if isinstance(detail, str) else dict(detail or {})
    shown = {k: _shown(v) for k, v in raw.items() if k in LOG_DETAIL_KEYS} if isinstance(raw, dict) else {}
    for key in _ID_KEYS.intersection(shown):  # ids are strings on the wire, as in the notices that name them
        value = shown[key]
        shown[key] = [str(v) for v in value] if isinstance(value, list) else str(value) if value is not None else None
    if reason:
        shown["reason"] = redact(reason)
    if shown:
        out["detail"] = shown
    return out


def log_limit(limit: int | None) -> int:
    """``group_log``'s page size: default :data:`LOG_DEFAULT`, clamped to 1 to :data:`LOG_MAX`, as
    every paged op's (0 or a negative value gives 1)."""
    return LOG_DEFAULT if limit is None else max(1, min(limit, LOG_MAX))


def request_again_in(rejected_at: int | None, cooldown_seconds: int, now: int) -> int:
    """Milliseconds until a user whose join request a group rejected at ``rejected_at`` (None: never)
    may ask that group again; 0: now (``groups.join_request_cooldown_seconds``)."""
    if rejected_at is None:
        return 0
    return max(0, rejected_at + cooldown_seconds * 1000 - now)
