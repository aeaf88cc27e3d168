"""Refusals in the person's language: the server's English reasons for bad_request and conflict
are shown in Chinese in the Chinese client (server/web/static/reasons.js), as written in English."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from governance import posting
from protocol.errors import ContractError
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


def _reason(refuse: Callable[[], None]) -> str:
    """The reason the server's own rule gives, so the table follows the server's words."""
    try:
        refuse()
    except ContractError as err:
        return err.reason
    raise AssertionError("the rule did not refuse")


# (server reason, what the Chinese client shows): every kind of pattern in reasons.js, with its
# numbers and names carried over; a reason it does not know stays as the server wrote it.
REASONS = [
    ("conflict", "transfer or dissolve the groups you own first: 123456789", "请先转让或解散你担任群主的群：123456789"),
    ("conflict", "at most 20 different reactions per message", "每条消息最多 20 种表情回应"),
    ("bad_request", "display_name is 1 to 32 printable characters", "输入有误：昵称须为 1–32 个可打印字符"),
    ("bad_request", "a group name is 1 to 64 printable characters", "输入有误：群名称须为 1–64 个可打印字符"),
    ("bad_request", "create_group: missing argument 'name'", "输入有误：缺少名称"),
    ("bad_request", "send: 'text' must be a string", "输入有误：消息格式不正确"),
    ("bad_request", "seconds must be 0 (unmute) to 2592000", "输入有误：禁言时长须为 0（解除禁言）到 2592000 秒"),
    ("bad_request", "a reason no pattern knows", "输入有误：a reason no pattern knows"),
    ("forbidden", _reason(lambda: posting.check_category_open("public_affairs", 1, 0)),
     "平台已暂时冻结「公共事务」类别：现在不能在该类别创建群，也不能把群改到该类别"),
    ("forbidden", "only the owner may do that", "没有权限执行此操作"),
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
