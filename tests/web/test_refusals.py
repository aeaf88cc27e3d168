"""Refusals in the person's language: the server's English reasons for bad_request and conflict
are shown in Chinese in the Chinese client (server/web/static/reasons.js), as written in English."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

from governance import identity, message_rules, moderation, permissions, posting
from protocol.errors import ContractError
from protocol.requests import parse_request
from server.handlers import groups, public_accounts
from server.storage.public import READING_TAKEN
from tests.e2e.harness import ServerProcess
from tests.web.browser import new_page, register, submit_registration


def _register_taken(page: Any, srv: ServerProcess, name: str) -> str:
    submit_registration(page, srv, name, "Again")
    page.wait_for_selector("#form-msg.error")
    text: str = page.inner_text("#form-msg")
    return text


def test_a_taken_username_is_refused_in_chinese_and_in_english(browser: Any, server: ServerProcess) -> None:
    first = new_page(browser, server)
    name = register(first, server)
    zh = new_page(browser, server)
    assert _register_taken(zh, server, name) == "该用户名已被占用"
    en = new_page(browser, server, lang="en")
    en.evaluate("() => localStorage.setItem('qg.lang', 'en')")
    en.reload()
    assert _register_taken(en, server, name) == "Conflict: that username is taken"
    assert first.errors == zh.errors == en.errors == []


def _reason(refuse: Callable[[], object]) -> str:
    """The reason the server's own rule gives, so the table follows the server's words."""
    try:
        refuse()
    except ContractError as err:
        return err.reason
    raise AssertionError("the rule did not refuse")


def _request(frame: dict[str, Any]) -> Callable[[], object]:
    """The server's own parsing of a malformed request frame (protocol/requests.py)."""
    return lambda: parse_request({"rid": 1, **frame})


TODAY = datetime.date(2025, 6, 1)


def _wrong_check_digit() -> str:
    first17 = "11010519900101123"
    right = identity.id_check_char(first17)
    return first17 + ("1" if right == "0" else "0")


def _said_by(path: str, reason: str) -> str:
    """``reason``, which the server's handler at ``path`` gives (written there, not in a function to
    call: its first 40 characters are looked for, the rest may be on the next line)."""
    source = (Path(__file__).resolve().parents[2] / path).read_text(encoding="utf-8")
    assert reason[:40] in source, (path, reason)
    return reason


# (server reason, what the Chinese client shows): every kind of pattern in reasons.js, with its
# numbers and names carried over; a reason it does not know stays as the server wrote it. Each
# reason is the server's own (its rule refusing), except the two conflicts, which only the store
# gives (server/storage/*_changes.py: the owned groups' ids joined, reactions.max_per_user 20).
REASONS = [
    ("conflict", "transfer or dissolve the groups you own first: 123456789", "请先转让或解散你担任群主的群：123456789"),
    ("conflict", "at most 20 different reactions per message", "每条消息最多 20 种表情回应"),
    ("bad_request", _reason(lambda: identity.validate_display_name("   ")),
     "输入有误：昵称须为 1–32 个字符"),
    ("bad_request", _reason(lambda: identity.validate_display_name("小\u200b明")),
     "输入有误：昵称不能含控制字符或不可见的格式字符"),
    ("bad_request", _reason(lambda: identity.validate_display_name("\ue000")),
     "输入有误：昵称不能含私用区或未分配的字符"),
    ("bad_request", _reason(lambda: identity.validate_display_name("\u0301")),
     "输入有误：昵称至少需要一个可见字符"),
    ("bad_request", _reason(lambda: identity.validate_display_name("Z" + "\u0336" * 5)),
     "输入有误：昵称中一个字符上最多叠加 4 个组合符号"),
    ("bad_request", _reason(lambda: identity.validate_display_name("已注销用户")),
     "输入有误：这个昵称留给已注销的账号，不能使用"),
    ("bad_request", _reason(lambda: groups.validate_group_name("\u3164")),
     "输入有误：名称不能含控制字符或不可见的格式字符"),
    ("bad_request", _reason(lambda: identity.validate_password("short")),
     "输入有误：密码须为 8–128 个字符"),
    ("bad_request", _reason(lambda: identity.validate_legal_name("张3")),
     "输入有误：真实姓名只能包含文字、空格和间隔号（·）"),
    ("bad_request", _reason(lambda: identity.validate_id_number("1101051990", TODAY)),
     "输入有误：身份证号须为 18 个字符"),
    ("bad_request", _reason(lambda: identity.validate_id_number("11010519900101123Y", TODAY)),
     "输入有误：身份证号须为 17 位数字加 1 位数字或 X"),
    ("bad_request", _reason(lambda: identity.validate_id_number("11010518800101123X", TODAY)),
     "输入有误：身份证号中的出生日期早于 1900 年"),
    ("bad_request", _reason(lambda: identity.validate_id_number(_wrong_check_digit(), TODAY)),
     "输入有误：身份证号校验位不正确"),
    ("bad_request", _reason(lambda: identity.validate_id_number("99999919900101123X", TODAY)),
     "输入有误：身份证号的地区码不存在"),
    ("bad_request", _reason(lambda: identity.validate_id_number("11010519900230123X", TODAY)),
     "输入有误：身份证号中的出生日期无效"),
    ("bad_request", _reason(lambda: identity.validate_id_number("11010520300101123X", TODAY)),
     "输入有误：身份证号中的出生日期晚于今天"),
    ("bad_request", _reason(lambda: identity.validate_legal_name("··")),
     "输入有误：真实姓名须包含文字"),
    ("bad_request", _reason(lambda: identity.validate_username("1ab")),
     "输入有误：用户名须为 3–32 个字符，只能包含字母、数字和 _ . -，并以字母开头"),
    ("bad_request", _reason(lambda: identity.normalize_phone("12345")),
     "输入有误：手机号须为中国大陆手机号码（以 13–19 开头的 11 位数字）"),
    ("bad_request", _reason(lambda: groups.validate_group_name("读书会" * 22)),
     "输入有误：群名称须为 1–64 个可打印字符"),
    ("bad_request", _reason(lambda: public_accounts._short_text(" ", "org_name", public_accounts.MAX_ORG_NAME_CHARS)),
     "输入有误：组织名称须为 1–100 个可打印字符"),
    ("bad_request", _reason(_request({"op": "create_group"})), "输入有误：缺少名称"),
    ("bad_request", _reason(_request({"op": "send", "group_id": "123456789", "text": 5})),
     "输入有误：消息格式不正确"),
    ("bad_request", _reason(lambda: moderation.check_mute_seconds(-1)),
     "输入有误：禁言时长须为 0（解除禁言）到 2592000 秒"),
    ("bad_request", _reason(lambda: posting.check_text("\u200b", max_chars=10, field="text")),
     "输入有误：消息不能只有空白或不可见字符"),
    ("bad_request", "a reason no pattern knows", "输入有误：a reason no pattern knows"),
    # (server/handlers/media.py: an image whose blocks cannot be walked to take its metadata out)
    ("bad_request", "the image/jpeg file's structure cannot be read (a segment runs past the end of the file)",
     "输入有误：无法读取这张图片的结构，请换一张或重新保存后再发"),
    ("forbidden", _reason(lambda: posting.check_category_open("public_affairs", 1, 0)),
     "平台已暂时冻结「公共事务」类别：现在不能在该类别创建群，也不能把群改到该类别"),
    ("forbidden", _reason(lambda: permissions.check("dissolve_group", permissions.Role("admin"))),
     "没有权限执行此操作"),
    # (found by a review of the client: these three were shown in English)
    ("forbidden", _said_by("server/handlers/groups.py", "this group is joined by invitation only"),
     "该群仅限邀请加入，请联系群主或管理员邀请你"),
    ("conflict", _reason(lambda: message_rules.check_pin_room(10, 10)), "一个群最多置顶 10 条消息，请先取消一条置顶"),
    ("conflict", READING_TAKEN, "这个名称与其他公众号的名称形近（其中有形似拉丁字母的其他文字字母），不能使用"),
    ("conflict", _said_by("server/handlers/accounts.py", "that phone number belongs to a cancelled account until "
                          "its records' retention period ends"), "该手机号属于已注销的账号，记录保存期满前不能再注册"),
]


def test_reasons_table(browser: Any, server: ServerProcess) -> None:
    page = new_page(browser, server)
    shown = page.evaluate(
        """async (cases) => {
             const { errorText } = await import('/i18n.js');
             return cases.map(([code, reason]) => errorText({ code, reason }));
           }""",
        [[c, r] for c, r, _ in REASONS],
    )
    assert shown == [zh for _, _, zh in REASONS]
    assert page.errors == []


def test_the_profile_says_why_a_display_name_is_refused_in_chinese(browser: Any, server: ServerProcess) -> None:
    """A display name with an invisible formatting character (a zero-width space) is refused by the
    server (governance/identity.py); the profile dialog says which rule in Chinese, not in English."""
    page = new_page(browser, server)
    register(page, server)
    page.click("#btn-profile")
    page.fill("#profile-name", "小\u200b明")
    page.press("#profile-name", "Enter")
    page.wait_for_selector("dialog .form-msg.error")
    assert page.inner_text("dialog .form-msg.error") == "输入有误：昵称不能含控制字符或不可见的格式字符"
    assert page.errors == []
