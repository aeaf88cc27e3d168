"""The platform's notices (``notice`` events) as the terminal client words them: pure functions.

A notice's ``text`` is English the server wrote, and for many kinds it is the operator's words
alone (a warning's reason, a report's note): what the user needs to act on (the sanction id to
``/appeal``, until when, the outcome) is in the notice's fields. So each known kind is worded from
its fields, and ``text`` stands in only where the fields are missing (an older server) or for a
kind this client does not know (the protocol says to show those as plain text). Every
server-supplied value goes through :func:`clean`; times (ms) are shown with :func:`hhmm`."""

from __future__ import annotations

from typing import Any

from client_demo.text import clean, hhmm


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _said(reason: Any) -> str:
    """``: the operator's words`` (nothing when there are none)."""
    return f": {clean(reason)}" if isinstance(reason, str) and reason else ""


def appeal_hint(sid: Any, owner: bool = False) -> str:
    """`` (sanction 6: /appeal 6 REASON contests it)``; for a group's sanction only its owner may."""
    s = clean(sid)
    who = "the group's owner may contest it with" if owner else "contest it with"
    return f" (sanction {s}; {who} /appeal {s} REASON)"


def credit_line(ev: dict[str, Any]) -> str | None:
    """A ``credit`` or ``account_credit`` notice said from its fields (``credit_score``,
    ``credit_level``, the signed ``delta``, and ``sanction_id``, ``report_id``, ``cause`` or
    ``reason``), not from its text; ``None`` when a field is missing (an older server: show its text).

    The sign of ``delta`` says which way the points went: a ``sanction_id`` comes both with the points
    a sanction takes (``suspend-admin``, ``revoke-create``: negative) and with a give-back after an
    upheld appeal or ``lift --restore-credit`` (positive)."""
    score, level, delta = _int(ev.get("credit_score")), _int(ev.get("credit_level")), _int(ev.get("delta"))
    if score is None or level is None or delta is None:
        return None
    account = ev.get("kind") == "account_credit"
    whose = "the account's" if account else "your"
    now = f"{whose} score is now {score} (level {level})"
    why = _said(ev.get("reason"))
    if ev.get("sanction_id"):
        sid = clean(ev["sanction_id"])
        if delta > 0:
            return f"{delta} credit points taken with sanction {sid} were given back: {now}"
        return f"sanction {sid} took {-delta} credit points: {now}{why}"
    if ev.get("report_id") and delta < 0 and not account:
        return f"a report about you was upheld: {-delta} credit points taken; {now}"
    if ev.get("cause") == "given_back" and delta > 0 and not account:  # a claim not taken after all
        return f"{delta} credit points counted while another measure was handled were not taken after all: {now}"
    if not why and ev.get("cause") == "content_blocked":  # the server's own penalty for refused content
        why = ": what you sent contained prohibited content and was refused"
    return f"{whose} credit score changed by {delta:+d} to {score} (level {level}){why}"


_LIFTED = {"warning": "the warning", "suspend_group": "the suspension of the group",
           "suspend_admin": "the suspension of your owner and admin powers",
           "revoke_create": "the revocation of your right to create groups", "blacklist": "the blacklisting",
           "restrict_comments": "the restriction of comments", "suspend_account": "the suspension of the account"}

_CONTENT = {"group_name": "the group name you set", "announcement": "the announcement you set",
            "display_name": "your display name", "account_name": "the account's name you set",
            "account_intro": "the account's introduction you set"}

_LABELS = {"news": "news licence", "government": "government label", "verified": "confirmation of the organization"}


def _content_removed(ev: dict[str, Any]) -> str | None:
    content, outcome = ev.get("content"), ev.get("outcome")
    if outcome not in ("rejected", "removed") or not isinstance(ev.get("reason"), str):
        return None
    title = f" “{clean(ev['title'])}”" if isinstance(ev.get("title"), str) else ""
    if content == "message":
        what = f"your message #{clean(ev['seq'])}" if _int(ev.get("seq")) is not None else "your message"
    elif content == "post":
        what = f"your post {clean(ev.get('post_id'))}{title}"
    elif content == "comment":
        what = f"your comment {clean(ev.get('comment_id'))} on post {clean(ev.get('post_id'))}{title}"
    elif content in _CONTENT:
        what = _CONTENT[str(content)]
    else:
        return None
    done = "was rejected after the platform's review" if outcome == "rejected" else "was taken down by the platform"
    return f"{what} {done}{_said(ev['reason'])}"


def _sanction(ev: dict[str, Any]) -> str | None:
    measure, sid = ev.get("measure"), ev.get("sanction_id")
    if not isinstance(ev.get("reason"), str) or not sid:
        return None
    why = _said(ev["reason"])
    if measure == "suspend_admin":
        until = f" until {hhmm(ev['until'])}" if _int(ev.get("until")) else ""
        return f"the platform suspended your owner and admin powers{until}{why}{appeal_hint(sid)}"
    if measure == "revoke_create":
        return f"the platform revoked your right to create groups{why}{appeal_hint(sid)}"
    return None


def _lifted(ev: dict[str, Any]) -> str | None:
    measure = ev.get("measure")
    if measure not in _LIFTED:
        return None
    line = f"the platform lifted sanction {clean(ev.get('sanction_id'))} ({_LIFTED[str(measure)]})"
    if ev.get("appeal_id"):
        line += f" as appeal {clean(ev['appeal_id'])} was upheld"
    line += _said(ev.get("reason"))
    until = _int(ev.get("until"))
    if not ev.get("group_id") and ev.get("still") is True:  # another sanction of the kind still holds
        return line + (f"; your management powers stay suspended until {hhmm(until)}" if until
                       else "; another sanction still holds")
    if ev.get("group_id") and until is not None:
        if until <= 0:
            line += "; posting in the group works again"
        else:
            held = " with its whole category" if ev.get("cause") == "category_freeze" else ""
            line += f"; the group stays suspended{held} until {hhmm(until)}"
    return line


def _appeal_result(ev: dict[str, Any]) -> str | None:
    outcome = ev.get("outcome")
    if outcome not in ("upheld", "rejected") or not ev.get("appeal_id"):
        return None
    head = f"your appeal {clean(ev['appeal_id'])} against sanction {clean(ev.get('sanction_id'))}"
    if outcome == "rejected":
        done = "was rejected: the sanction stands"
    elif ev.get("lifted") is False:  # (an older server sends no `lifted`: it lifted)
        done = "was upheld: the sanction had already ended"
    else:
        done = "was upheld: the sanction is lifted"
    note = ev.get("note")
    return f"{head} {done}" + (f" (note: {clean(note)})" if isinstance(note, str) and note else "")


def _account(ev: dict[str, Any]) -> str | None:
    """The measures on a public account the user runs: its owner may ``appeal`` a warning, the
    restriction of its comments and a suspension, by the sanction id the notice carries (an editor
    may not: the hint says whose it is)."""
    kind, reason = ev.get("kind"), ev.get("reason")
    why = _said(reason)
    s = clean(ev["sanction_id"]) if ev.get("sanction_id") else ""
    sid = f" (sanction {s}; the account's owner may contest it with /appeal {s} REASON)" if s else ""
    if kind == "account_warning":  # text: the operator's reason
        by = f"; rectify by {hhmm(ev['deadline'])}" if _int(ev.get("deadline")) else ""
        return f"{clean(ev.get('text', ''))}{by}{sid}"
    if not isinstance(reason, str):
        return None
    if kind == "account_restricted":
        return f"the platform turned off comments on this account's posts{sid}{why}"
    if kind == "account_unrestricted":
        return f"comments on this account's posts work again{why}"
    if kind == "account_suspended":
        until = f" until {hhmm(ev['deadline'])}" if _int(ev.get("deadline")) else ""
        return f"the platform suspended this account{until}: no posts, no new name or introduction{why}{sid}"
    if kind == "account_closed":
        return f"the platform closed this account for good{why}"
    if kind == "account_licensed" and ev.get("label") in _LABELS and ev.get("measure") in ("grant", "revoke"):
        verb = "granted" if ev["measure"] == "grant" else "revoked"
        return f"the platform {verb} the {_LABELS[str(ev['label'])]}{why}"
    if kind == "post_removed" and ev.get("post_id"):
        title = f" “{clean(ev['title'])}”" if isinstance(ev.get("title"), str) else ""
        return f"the platform removed post {clean(ev['post_id'])}{title}{why}"
    return None


def notice_line(ev: dict[str, Any]) -> str:
    """What follows ``* notice [kind] where: `` for a ``notice`` event."""
    kind = ev.get("kind")
    text = clean(ev.get("text", ""))
    line: str | None = None
    if kind in ("credit", "account_credit"):
        line = credit_line(ev)
    elif kind == "warning":  # text: the operator's reason
        line = text
        if _int(ev.get("deadline")):
            line += f"; rectify by {hhmm(ev['deadline'])}"
        if ev.get("sanction_id"):
            line += appeal_hint(ev["sanction_id"], owner=True)
    elif kind == "report_result" and ev.get("outcome") in ("upheld", "rejected"):  # text: the operator's note
        rid = f" {clean(ev['report_id'])}" if ev.get("report_id") else ""
        line = f"your report{rid} was {ev['outcome']}" + (f" (note: {text})" if text else "")
    elif kind == "sanction":
        line = _sanction(ev)
        if line is None and ev.get("sanction_id"):
            line = text + appeal_hint(ev["sanction_id"])
    elif kind == "sanction_lifted":
        line = _lifted(ev)
        if line is None and ev.get("sanction_id"):
            line = f"{text} (sanction {clean(ev['sanction_id'])})"
    elif kind == "appeal_result":
        line = _appeal_result(ev)
    elif kind == "content_removed":
        line = _content_removed(ev)
    elif kind == "agreement":
        v = clean(ev["version"]) if isinstance(ev.get("version"), str) and ev["version"] else ""
        line = (f"the platform published its rules and service agreement{', version ' + v if v else ''}: "
                f"read them with /agreement, then /accept{' ' + v if v else ''} (until then nothing you send "
                "is accepted)")
    elif kind == "platform":
        line = text + (f" (to the groups of category {clean(ev['category'])})" if ev.get("category") else "")
    elif kind == "group_handover" and ev.get("group_id"):
        line = (f"you now own group {clean(ev['group_id'])}: the platform closed its owner's account and "
                "you were its longest-serving admin")
    elif kind == "blacklisted":
        line = text
        if ev.get("same_person_as"):  # another login of this person was blacklisted, and this one with it
            line += f" (the same verified identity as {clean(ev['same_person_as'])})"
    elif kind == "resync":
        line = ("the server's serving node was lost: changes of its last moments may not have reached this "
                "client; /groups, /members and /history show what holds now")
    elif isinstance(kind, str) and (kind.startswith("account_") or kind == "post_removed"):
        line = _account(ev)
    return text if line is None else line
