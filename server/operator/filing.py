"""The filing report (G7, P7): the platform's management system as it is configured and as it ran.

``qunguan admin filing-report --out DIR [--since ISO] [--until ISO]`` makes the server
write into a new (or empty) folder DIR:

  filing-report.json  the figures below, keys sorted, UTF-8
  filing-report.html  the same as a printable page (plain HTML and CSS, no script),
                      headings in Chinese with English

What it holds: groups by category, size class and activity class (live, dissolved,
closed, suspended); public accounts by category, subscriber class, read class and
credit level, with the subjects running them and the caps, and every subject's account list:
each verified person or organisation, by its subject key, with its accounts' ids, names, status,
licences and opening times (P7); accounts
(registered, verified, cancelled, blacklisted, restricted) and how they spread over
the credit levels; the caps, the size-class rules, the content lists and every
version of the platform rules and service agreement; the sanctions that started in
the period by kind, the measures on content that take no sanction (messages, comments and texts
removed, files taken down and released: from their record entries), the complaints made in it by
target and outcome with handling times, the content-review decisions (in all, and by kind of item: message, post,
comment, group name, announcement, display name); and who operates the platform (the named
operators, their roles and what each role may run) and who generated it. Counts of
groups and accounts are as of generation; the period applies to sanctions,
complaints and reviews (``since <= ts < until``; by default all of the record up to
now). Nothing in it identifies a user (a subject is its keyed hash, as ``qunguan admin accounts``
shows it; an organisation also by its name and code). Writing it is an enforcement-record entry
(action ``filing_report``) carrying the SHA-256 of both files.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from governance.operators import ROLE_ORDER, permission_rows
from governance.public_accounts import (
    LABELS,
    account_classes,
    account_level,
    shown_labels,
)
from governance.retention import DAY_MS
from governance.tiers import activity_class, credit_level, size_class
from server.operator.channel import OperatorError, Result, command
from server.operator.common import apply, audit, in_turns, operator_name, quantile, time_of
from server.operator.export import iso
from server.operator.outdir import OutDir

if TYPE_CHECKING:
    from server.context import Context
    from server.state import Account

FORMAT = "qunguan-filing-report/1"
HOUR_MS = 3_600_000
PUBLIC_ACCOUNTS_NOTE = ("public accounts (公众账号, P7): counts as of generation; classes from subscribers and "
                        "from reads in the activity window; a subject is one verified person or organisation")
SUBJECTS_NOTE = ("each subject is a verified person or an organisation, given by its subject key (the keyed hash "
                 "`qunguan admin accounts` shows, never a name or ID number); its accounts oldest first, closed "
                 "ones included")
SINGLE_OPERATOR = ("single operator: no [[operators]] are configured; whoever can open the operator socket "
                   "(the server's OS user) acts as the one operator with every permission")


def _period(args: dict[str, Any], now: int) -> tuple[int | None, int]:
    since, until = time_of(args, "since", "--since must be a time"), time_of(args, "until", "--until must be a time")
    hi = until if until is not None else now + 1
    if since is not None and since >= hi:
        raise OperatorError("--since must be before --until")
    return since, hi


def _hours(ms: list[int]) -> dict[str, float] | None:
    if not ms:
        return None
    s = sorted(ms)

    def pick(q: float) -> float:
        return round(quantile(s, q) / HOUR_MS, 3)

    return {"median": pick(0.5), "p90": pick(0.9), "max": round(s[-1] / HOUR_MS, 3),
            "mean": round(sum(s) / len(s) / HOUR_MS, 3)}


# Users or groups counted at a time, the chat served between: counted in one step, 120,000 users and
# 10,500 groups held every connection 100 ms (a million users would, 0.8 s). Each is counted once, as
# it is at its turn.
COUNTED_PER_TURN = 20_000


async def _groups(app: Context, now: int) -> dict[str, Any]:
    cfg = app.cfg.groups
    window, today = cfg.activity_window_days, now // DAY_MS
    by_category: dict[str, dict[str, int]] = {c: {"live": 0, "members": 0} for c in cfg.categories}
    by_size: Counter[str | None] = Counter()
    by_activity: Counter[str | None] = Counter()
    counts: Counter[str] = Counter()
    # Ended groups as the store counts them (memory keeps none once their end is stored: State.retire;
    # disjoint, a group dissolved and then closed by the platform counts once, as closed).
    counts["closed_by_platform"], counts["dissolved"] = await app.store.ended_group_counts()
    async for part in in_turns(app.state.groups.values(), COUNTED_PER_TURN):
        for g in part:
            if not g.alive:
                continue  # (its end in flight: counted by the store once stored)
            row = by_category.setdefault(g.category, {"live": 0, "members": 0})  # a category dropped from config
            row["live"] += 1
            row["members"] += len(g.members)
            counts["live"] += 1
            counts["members_in_live_groups"] += len(g.members)
            counts["suspended_now"] += g.suspended_until > now
            size = size_class(len(g.members), cfg.size_classes)
            recent = sum(n for day, n in g.daily.items() if day > today - window)
            activity = activity_class(recent, window, cfg.activity_classes)
            by_size[size.name if size else None] += 1
            by_activity[activity.name if activity else None] += 1
    return {
        "live": counts["live"],
        "dissolved": counts["dissolved"],
        "closed_by_platform": counts["closed_by_platform"],
        "suspended_now": counts["suspended_now"],
        "members_in_live_groups": counts["members_in_live_groups"],
        "by_category": [{"category": c, **v} for c, v in by_category.items()],
        "by_size_class": [{"name": s.name, "min_members": s.min_members, "require_id": s.require_id,
                           "min_credit_level": s.min_credit_level, "groups": by_size[s.name]}
                          for s in cfg.size_classes] + (
            [{"name": None, "groups": by_size[None], "note": "below the smallest class"}] if by_size[None] else []),
        "by_activity_class": [{"name": a.name, "min_messages_per_day": a.min_messages_per_day,
                               "groups": by_activity[a.name]} for a in cfg.activity_classes] + (
            [{"name": None, "groups": by_activity[None], "note": "below the quietest class"}]
            if by_activity[None] else []),
        "activity_window_days": window,
    }


def _by_subject(every: list[Account], codes: dict[str, str], now: int) -> list[dict[str, Any]]:
    """P7's account list of every subject: each verified person or organisation with its
    accounts, closed ones included, as ``qunguan admin accounts --subject`` shows them.

    A subject is given as the operator's tools give it: its ``subject_key`` (the keyed hash that
    groups one person's or one organisation's accounts, never a name or ID number) and type; an
    organisation also by its unified social credit code, and each of its accounts by the
    organisation name it was opened under. No owner or username: the report names no user.
    """
    subjects: dict[str, list[Account]] = {}
    for a in sorted(every, key=lambda x: (x.created_at, x.account_id)):
        subjects.setdefault(a.subject_key, []).append(a)
    rows = []
    for key, accounts in subjects.items():
        first = accounts[0]
        org = first.subject_type == "organization"
        rows.append({
            "subject_key": key, "subject_type": first.subject_type,
            "org_code": next((codes[a.account_id] for a in accounts if a.account_id in codes), None) if org else None,
            "live": sum(1 for a in accounts if a.closed_at is None),
            "accounts": [{"account_id": a.account_id, "name": a.name, "org_name": a.org_name, "category": a.category,
                          "status": a.status(now), "labels": shown_labels(a.subject_type, a.labels),
                          "licences": [label for label in a.labels if label in LABELS],
                          "created_at": a.created_at, "created_at_iso": iso(a.created_at),
                          "closed_at": a.closed_at, "closed_at_iso": iso(a.closed_at)} for a in accounts],
        })
    return rows


async def _public_accounts(app: Context, now: int) -> dict[str, Any]:
    """Public accounts per category and class (P7), their labels, subjects and credit levels."""
    cfg = app.cfg.public_accounts
    window = app.cfg.groups.activity_window_days
    figures = await app.store.account_figures(now - window * DAY_MS)
    codes = await app.store.org_codes()
    every = list(app.state.accounts.values())
    live = [a for a in every if a.closed_at is None]
    by_category: dict[str, dict[str, int]] = {c: {"live": 0, "organizations": 0, "individuals": 0, "subscribers": 0}
                                              for c in cfg.categories}
    by_subscribers: Counter[str] = Counter()
    by_reads: Counter[str] = Counter()
    per_level: Counter[int] = Counter()
    for a in live:
        row = by_category.setdefault(a.category, {"live": 0, "organizations": 0, "individuals": 0, "subscribers": 0})
        row["live"] += 1
        row["organizations" if a.subject_type == "organization" else "individuals"] += 1
        row["subscribers"] += len(a.subscribers)
        f = figures.get(a.account_id)
        classes = account_classes(len(a.subscribers), f.recent_reads if f is not None else 0,
                                  subscriber_classes=cfg.subscriber_classes, read_classes=cfg.read_classes)
        by_subscribers[classes["subscriber_class"]] += 1
        by_reads[classes["read_class"]] += 1
        per_level[account_level(a.credit_score, cfg.levels)] += 1
    return {
        "count": len(every),
        "live": len(live),
        "closed": len(every) - len(live),
        "suspended_now": sum(1 for a in live if a.suspension_end() > now),
        "comments_restricted": sum(1 for a in live if a.comments_restricted),
        "subjects": len({a.subject_key for a in live}),
        "barred_subjects": len(app.state.barred_subjects),
        "by_subject": _by_subject(every, codes, now),
        "licensed": {label: sum(1 for a in live if label in a.labels) for label in LABELS},
        "posts": sum(f.posts for f in figures.values()),
        "reads_in_window": sum(f.recent_reads for f in figures.values()),
        "window_days": window,
        "by_category": [{"category": c, **v} for c, v in by_category.items()],
        "by_subscriber_class": [{"name": s.name, "min_subscribers": s.min_subscribers,
                                 "accounts": by_subscribers[s.name]} for s in cfg.subscriber_classes],
        "by_read_class": [{"name": r.name, "min_reads": r.min_reads, "accounts": by_reads[r.name]}
                          for r in cfg.read_classes],
        "credit_levels": [{"level": i, "min_score": lv.min_score,
                           "publish_interval_seconds": lv.publish_interval_seconds, "comments": lv.comments,
                           "accounts": per_level[i]}
                          for i, lv in enumerate(cfg.levels, start=1)],
        "caps": {"max_per_subject": cfg.max_per_subject, "max_editors": cfg.max_editors},
        "note": PUBLIC_ACCOUNTS_NOTE,
    }


async def _accounts_and_credit(app: Context, now: int) -> tuple[dict[str, Any], dict[str, Any]]:
    credit = app.cfg.credit
    per_level: Counter[int] = Counter()
    counts: Counter[str] = Counter()
    async for part in in_turns(app.state.users.values(), COUNTED_PER_TURN):
        for u in part:
            counts["registered"] += 1
            counts["cancelled"] += u.deleted
            counts["blacklisted"] += u.blacklisted
            if not u.active:
                continue
            counts["active"] += 1
            per_level[credit_level(u.credit_score, credit.levels)] += 1
            counts["id_verified"] += u.id_verified
            counts["admin_powers_suspended_now"] += u.powers_suspended_until > now
            counts["create_revoked"] += u.create_revoked
    accounts = {
        **{key: counts[key] for key in ("registered", "active", "id_verified", "cancelled", "blacklisted",
                                        "admin_powers_suspended_now", "create_revoked")},
        "note": "phone numbers are verified for every account at registration (Art. 6)",
    }
    levels = [{"level": i, "min_score": lvl.min_score, "max_members": lvl.max_members,
               "max_groups_created": lvl.max_groups_created, "max_groups_joined": lvl.max_groups_joined,
               "max_admins": lvl.max_admins, "accounts": per_level[i]}
              for i, lvl in enumerate(credit.levels, start=1)]
    return accounts, {
        "initial_score": credit.initial_score,
        "penalties": {"blocked_content": credit.penalty_blocked_content,
                      "report_upheld": credit.penalty_report_upheld, "sanction": credit.penalty_sanction},
        "levels": levels,
        "note": "a level's empty cap falls back to the platform cap; the distribution counts active accounts",
    }


async def _rules(app: Context) -> dict[str, Any]:
    cfg = app.cfg
    versions = await app.store.filing_agreements()
    return {
        "caps": {"max_members": cfg.limits.max_members, "max_groups_created": cfg.limits.max_groups_created,
                 "max_groups_joined": cfg.limits.max_groups_joined, "max_admins": cfg.limits.max_admins,
                 "max_text_chars": cfg.limits.max_text_chars,
                 "max_accounts_per_id": cfg.identity.max_accounts_per_id},
        "identity": {"require_id_to_create": cfg.identity.require_id_to_create,
                     "require_id_to_post": cfg.identity.require_id_to_post,
                     "id_verifier": cfg.identity.id_verifier, "sms_provider": cfg.identity.sms_provider},
        "content_lists": [{"category": w.category, "action": w.action, "file": w.path.name}
                          for w in cfg.content.lists],
        "retention_days": cfg.retention.days,
        "agreement_versions": [{"version": v, "published_at": at, "published_at_iso": iso(at), "accepted_by": n}
                               for v, at, n in versions],
        "current_agreement": app.agreement.version if app.agreement is not None else None,
    }


async def _enforcement(app: Context, since: int | None, until: int) -> dict[str, Any]:
    lo = since if since is not None else -(2**62)
    sanctions = await app.store.filing_sanctions(lo, until)
    reports = await app.store.filing_reports(lo, until)
    reviews = await app.store.filing_reviews(lo, until)
    measures = await app.store.filing_measures(lo, until, CONTENT_MEASURES)
    resolved = [r for r in reports if r[1] == "resolved" and r[4] is not None]
    handling = [resolved_at - created_at for _, _, _, created_at, resolved_at in resolved
                if resolved_at is not None]
    return {
        "sanctions": {
            "total": sum(n for _, _, n in sanctions),
            "by_kind": [{"kind": k, "target_type": t, "count": n} for k, t, n in sanctions],
        },
        "complaints": {
            "received": len(reports),
            "by_target_type": dict(sorted(Counter(r[0] for r in reports).items())),
            "open": sum(1 for r in reports if r[1] == "open"),
            "resolved": len(resolved),
            "by_outcome": dict(sorted(Counter(r[2] for r in resolved if r[2] is not None).items())),
            "hours_to_resolution": _hours(handling),
            "resolved_within_24_hours": sum(1 for ms in handling if ms <= 24 * HOUR_MS),
        },
        "content_measures": _content_measures(measures),
        "content_review": _reviews_by_action(reviews),
        "content_review_by_kind": [{"kind": k, "action": a, "status": s, "decision": d, "count": n}
                                   for k, a, s, d, n in reviews],
    }


# The operator's measures on content that take no sanction row (remove-post does: it is a sanction):
# counted from their record entries, with the files each took down (server/operator/files.py).
CONTENT_MEASURES = ("remove_message", "remove_comment", "remove_term", "remove_text", "take_down_file",
                    "release_file")


def _content_measures(entries: list[tuple[str, str | None]]) -> dict[str, Any]:
    """The content measures by action, and the files taken down (by removals and by digest) and released."""
    by_action: Counter[str] = Counter()
    taken = 0
    for action, detail in entries:
        by_action[action] += 1
        if action == "take_down_file":
            taken += 1
        elif detail:
            taken += len(json.loads(detail).get("files_taken_down") or [])
    return {"by_action": [{"action": a, "count": n} for a, n in sorted(by_action.items())],
            "files_taken_down": taken, "files_released": by_action["release_file"]}


def _reviews_by_action(reviews: list[tuple[str, str, str, str | None, int]]) -> list[dict[str, Any]]:
    """The review items by action, status and decision over every kind: the totals
    ``content_review_by_kind`` splits by what the item holds."""
    totals: Counter[tuple[str, str, str | None]] = Counter()
    for _, a, s, d, n in reviews:
        totals[(a, s, d)] += n
    return [{"action": a, "status": s, "decision": d, "count": n}
            for (a, s, d), n in sorted(totals.items(), key=lambda x: (x[0][0], x[0][1], x[0][2] or ""))]


def _operators(app: Context) -> dict[str, Any]:
    rows = permission_rows()
    roles = [{"role": str(role), "may_run": [action for action, allowed in rows if allowed[role]]}
             for role in ROLE_ORDER]
    if not app.cfg.operators:
        return {"mode": "single operator", "operators": [], "roles": roles, "note": SINGLE_OPERATOR}
    return {"mode": "named operators", "roles": roles,
            "operators": [{"name": o.name, "role": o.role} for o in app.cfg.operators]}


async def build(app: Context, since: int | None, until: int) -> dict[str, Any]:
    now = app.now_ms()
    accounts, credit = await _accounts_and_credit(app, now)
    return {
        "format": FORMAT,
        "generated_at": now, "generated_at_iso": iso(now), "generated_by": operator_name(),
        "period": {"since": since, "until": until, "since_iso": iso(since), "until_iso": iso(until),
                   "applies_to": "sanctions, complaints and content review (since <= ts < until); "
                                 "group and account figures are as of generated_at"},
        "groups": await _groups(app, now),
        "public_accounts": await _public_accounts(app, now),
        "accounts": accounts,
        "credit": credit,
        "rules": await _rules(app),
        **await _enforcement(app, since, until),
        "operators": _operators(app),
    }


# -- the printable page -----------------------------------------------------------------------
CSS = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       margin: 2em auto; max-width: 60em; color: #111; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #111; padding-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #999; }
h2 small, h1 small { font-weight: normal; color: #444; }
table { border-collapse: collapse; margin: .6em 0; width: 100%; }
th, td { border: 1px solid #999; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #333; font-size: .92em; }
p.subject { margin: 1em 0 .2em; } p.subject code { font-size: .8em; word-break: break-all; }
@media print { body { margin: 0; max-width: none; font-size: 10.5pt; }
  h2 { break-after: avoid; } table, tr { break-inside: avoid; } }
"""


def _cell(v: object) -> str:
    if v is None:
        return "<td>—</td>"
    if isinstance(v, bool):
        return f"<td>{'是 yes' if v else '否 no'}</td>"
    if isinstance(v, int | float):
        return f'<td class="n">{v}</td>'
    return f"<td>{html.escape(str(v))}</td>"


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    if not rows:
        return '<p class="note">无 none</p>'
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in cols)
    body = "".join("<tr>" + "".join(_cell(r.get(k)) for k, _ in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs(items: dict[str, Any], labels: dict[str, str]) -> str:
    rows = [{"k": labels.get(k, k), "v": v} for k, v in items.items() if k != "note" and not isinstance(v, dict | list)]
    return _table(rows, [("k", "项目 item"), ("v", "数值 value")])


def _h2(zh: str, en: str) -> str:
    return f"<h2>{html.escape(zh)} <small>{html.escape(en)}</small></h2>"


def _note(text: object) -> str:
    return f'<p class="note">{html.escape(str(text))}</p>' if text else ""


def _public_accounts_html(pa: dict[str, Any]) -> list[str]:
    return [
        _h2("公众账号", "Public accounts"),
        _pairs({k: v for k, v in pa.items() if k != "licensed"}
               | {f"licensed_{k}": v for k, v in pa["licensed"].items()},
               {"count": "账号总数 accounts", "live": "存续 live", "closed": "已关闭 closed",
                "suspended_now": "暂停更新中 suspended now", "comments_restricted": "评论受限 comments restricted",
                "subjects": "主体数 subjects", "barred_subjects": "黑名单主体 barred subjects",
                "licensed_news": "新闻资质 news licence", "licensed_government": "政务 government",
                "posts": "发布文章 posts", "reads_in_window": "窗口内阅读 reads in window",
                "window_days": "统计窗口(天) window (days)"}),
        _note(pa["note"]),
        _h2("公众账号按类别", "Public accounts by category"),
        _table(pa["by_category"], [("category", "类别 category"), ("live", "账号 accounts"),
                                   ("organizations", "机构 organisations"), ("individuals", "个人 individuals"),
                                   ("subscribers", "订阅 subscribers")]),
        _h2("公众账号按订阅规模分级", "Public accounts by subscriber class"),
        _table(pa["by_subscriber_class"], [("name", "级别 class"), ("min_subscribers", "最少订阅 from subscribers"),
                                           ("accounts", "账号 accounts")]),
        _h2("公众账号按阅读量分级", "Public accounts by read class"),
        _table(pa["by_read_class"], [("name", "级别 class"), ("min_reads", "最少阅读 from reads"),
                                     ("accounts", "账号 accounts")]),
        _h2("公众账号信用等级", "Public account credit levels"),
        _table(pa["credit_levels"], [("level", "等级 level"), ("min_score", "最低分 from score"),
                                     ("publish_interval_seconds", "发布间隔(秒) publishing interval (s)"),
                                     ("comments", "可开评论 comments"), ("accounts", "账号 accounts")]),
        _pairs(pa["caps"], {"max_per_subject": "每主体账号上限 accounts per subject",
                            "max_editors": "编辑上限 editors per account"}),
        _h2("公众账号主体及账号清单", "Public accounts by subject"),
        *(_subject_html(i, s) for i, s in enumerate(pa["by_subject"], start=1)),
        _note(SUBJECTS_NOTE) if pa["by_subject"] else _note("无 none"),
    ]


def _subject_html(n: int, s: dict[str, Any]) -> str:
    """One subject (P7) and its accounts: a heading line, then a table of the accounts."""
    kind = "机构 organisation" if s["subject_type"] == "organization" else "个人 individual"
    code = f" · 统一社会信用代码 code {s['org_code']}" if s["org_code"] else ""
    head = (f'<p class="subject"><b>主体 subject {n}</b> · {html.escape(kind)}{html.escape(code)} · '
            f'存续账号 live {s["live"]}<br><code>{html.escape(s["subject_key"])}</code></p>')
    rows = [{**a, "labels": ", ".join(a["labels"]) or None} for a in s["accounts"]]
    cols = [("account_id", "账号 ID"), ("name", "名称 name"), ("category", "类别 category"),
            ("status", "状态 status"), ("labels", "标识与资质 labels and licences"),
            ("created_at_iso", "开通 created"), ("closed_at_iso", "关闭 closed")]
    if s["subject_type"] == "organization":
        cols.insert(2, ("org_name", "机构名称 organisation"))
    return head + _table(rows, cols)


def render_html(r: dict[str, Any]) -> str:
    g, a, c, rules, comp = r["groups"], r["accounts"], r["credit"], r["rules"], r["complaints"]
    p = r["period"]
    period = f"{p['since_iso'] or '记录开始 start of the record'} — {p['until_iso']}"
    parts = [
        "<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
        "<title>平台管理制度备案报告 Filing report</title>", f"<style>{CSS}</style></head><body>",
        ("<h1>互联网群组信息服务 平台管理制度备案报告 "
        "<small>Filing report: the platform's management system</small></h1>"),
        _table([{"k": "生成时间 generated", "v": r["generated_at_iso"]}, {"k": "生成人 generated by",
                 "v": r["generated_by"]}, {"k": "统计期间 period", "v": period},
                {"k": "格式 format", "v": r["format"]}], [("k", "项目 item"), ("v", "内容 value")]),
        _note(p["applies_to"]),
        _h2("群组概况", "Groups"),
        _pairs(g, {"live": "存续群组 live", "dissolved": "已解散 dissolved", "closed_by_platform": "平台关闭 closed",
                   "suspended_now": "暂停中 suspended now", "members_in_live_groups": "成员总数 members",
                   "activity_window_days": "活跃度统计窗口(天) activity window (days)"}),
        _h2("按类别", "Groups by category"),
        _table(g["by_category"], [("category", "类别 category"), ("live", "群组 groups"), ("members", "成员 members")]),
        _h2("按规模分级", "Groups by size class"),
        _table(g["by_size_class"], [("name", "级别 class"), ("min_members", "最少成员 from members"),
                                    ("require_id", "需实名 ID required"),
                                    ("min_credit_level", "最低信用等级 min credit level"), ("groups", "群组 groups")]),
        _h2("按活跃度分级", "Groups by activity class"),
        _table(g["by_activity_class"], [("name", "级别 class"), ("min_messages_per_day", "日均消息 messages/day from"),
                                        ("groups", "群组 groups")]),
        *_public_accounts_html(r["public_accounts"]),
        _h2("用户账号", "Accounts"),
        _pairs(a, {"registered": "注册账号 registered", "active": "有效账号 active",
                   "id_verified": "已实名 ID verified", "cancelled": "已注销 cancelled",
                   "blacklisted": "黑名单 blacklisted", "admin_powers_suspended_now": "管理权限暂停中 powers suspended",
                   "create_revoked": "取消建群资格 may not create"}),
        _note(a["note"]),
        _h2("信用等级与分布", "Credit levels and their distribution"),
        _table(c["levels"], [("level", "等级 level"), ("min_score", "最低分 from score"),
                             ("max_members", "群成员上限 max members"), ("max_groups_created", "建群上限 may create"),
                             ("max_groups_joined", "入群上限 may join"), ("max_admins", "管理员上限 max admins"),
                             ("accounts", "账号数 accounts")]),
        _pairs({"initial_score": c["initial_score"], **{f"penalty_{k}": v for k, v in c["penalties"].items()}},
               {"initial_score": "初始信用分 initial score", "penalty_blocked_content": "违规内容扣分 blocked content",
                "penalty_report_upheld": "举报成立扣分 report upheld", "penalty_sanction": "处置扣分 sanction"}),
        _note(c["note"]),
        _h2("上限与规则", "Caps and rules"),
        _pairs({**rules["caps"], **rules["identity"], "retention_days": rules["retention_days"],
                "current_agreement": rules["current_agreement"]},
               {"max_members": "群成员上限 max members", "max_groups_created": "建群上限 may create",
                "max_groups_joined": "入群上限 may join", "max_admins": "管理员上限 max admins",
                "max_text_chars": "消息长度上限 max message length",
                "max_accounts_per_id": "每证件账号数 accounts per ID",
                "require_id_to_create": "建群需实名 ID to create", "require_id_to_post": "发言需实名 ID to post",
                "id_verifier": "身份核验 ID verifier", "sms_provider": "短信验证 SMS provider",
                "retention_days": "留存天数 retention (days)", "current_agreement": "现行协议版本 agreement in force"}),
        _h2("平台规则与服务协议版本", "Rules and service agreement versions"),
        _table(rules["agreement_versions"], [("version", "版本 version"), ("published_at_iso", "发布 published"),
                                             ("accepted_by", "已同意账号 accepted by")]),
        _h2("违法违规信息词表", "Prohibited-content lists"),
        _table(rules["content_lists"],
               [("category", "类别 category"), ("action", "处置 action"), ("file", "文件 file")]),
        _h2("处置统计", "Sanctions in the period"),
        _table(r["sanctions"]["by_kind"], [("kind", "处置 kind"), ("target_type", "对象 target"),
                                           ("count", "次数 count")]),
        _note(f"合计 total: {r['sanctions']['total']}"),
        _h2("内容处置统计", "Measures on content in the period (besides sanctions)"),
        _table(r["content_measures"]["by_action"], [("action", "处置 action"), ("count", "次数 count")]),
        _note(f"下架文件 files taken down: {r['content_measures']['files_taken_down']}; "
              f"恢复 released: {r['content_measures']['files_released']}"),
        _h2("投诉举报统计", "Complaints in the period"),
        _pairs({k: v for k, v in comp.items() if not isinstance(v, dict)},
               {"received": "收到 received", "open": "待处理 open", "resolved": "已处理 resolved",
                "resolved_within_24_hours": "24小时内处理 resolved within 24 h"}),
        _table([{"k": k, "v": v} for k, v in comp["by_target_type"].items()],
               [("k", "举报对象 target"), ("v", "数量 count")]),
        _table([{"k": k, "v": v} for k, v in comp["by_outcome"].items()], [("k", "结果 outcome"), ("v", "数量 count")]),
        _h2("处理时长(小时)", "Handling time (hours)"),
        _pairs(comp["hours_to_resolution"] or {}, {"median": "中位数 median", "p90": "90分位 p90",
                                                    "max": "最长 max", "mean": "平均 mean"}),
        _h2("内容审核", "Content review in the period"),
        _table(r["content_review"], [("action", "方式 action"), ("status", "状态 status"),
                                     ("decision", "决定 decision"), ("count", "数量 count")]),
        _h2("内容审核(按对象)", "Content review by kind of item"),
        _table(r["content_review_by_kind"], [("kind", "对象 kind"), ("action", "方式 action"),
                                             ("status", "状态 status"), ("decision", "决定 decision"),
                                             ("count", "数量 count")]),
        _h2("运营人员与角色", "Operators and roles"),
        _table(r["operators"]["operators"], [("name", "姓名 name"), ("role", "角色 role")])
        if r["operators"]["operators"] else _note(r["operators"]["note"]),
        _table([{"role": x["role"], "may_run": ", ".join(x["may_run"])} for x in r["operators"]["roles"]],
               [("role", "角色 role"), ("may_run", "可执行的命令 commands it may run")]),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


@command("filing-report")
async def filing_report(app: Context, args: dict[str, Any]) -> Result:
    if not args.get("out"):
        raise OperatorError("--out is required")
    since, until = _period(args, app.now_ms())
    report = await build(app, since, until)
    data = (json.dumps(report, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()
    page = render_html(report).encode()
    out = OutDir.claim(str(args["out"]))
    loop = asyncio.get_running_loop()
    # As an export: whatever fails from the claim on removes what was written (a report not on the
    # record is not one to file, and a retry into the same folder would be refused as not empty).
    try:
        json_sha = await loop.run_in_executor(None, out.write, "filing-report.json", data)
        html_sha = await loop.run_in_executor(None, out.write, "filing-report.html", page)
        await apply(app, audit=audit(app, "filing_report", "filing report written", out=str(out),
                                     since=since, until=until, json_sha256=json_sha, html_sha256=html_sha))
    except BaseException:
        await asyncio.shield(loop.run_in_executor(None, out.abandon))
        raise
    out.release()
    return Result([f"filing report written to {out}",
                   f"filing-report.json: sha256 {json_sha}", f"filing-report.html: sha256 {html_sha}"])
