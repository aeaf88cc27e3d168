"""The web client's string table: both languages have the same keys (no browser needed); English in use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import new_page, register

I18N = Path(__file__).resolve().parents[2] / "server" / "web" / "static" / "i18n.js"
KEY = re.compile(r'(?:^|[,{])\s*([a-z][a-z0-9_]*)\s*:\s*["`]', re.M)


def _tables() -> tuple[set[str], set[str]]:
    src = I18N.read_text(encoding="utf-8")
    zh = src[src.index("const zh = {"):src.index("const en = {")]
    en = src[src.index("const en = {"):src.index("const TABLES")]
    return set(KEY.findall(zh)), set(KEY.findall(en))


def test_both_languages_have_the_same_keys() -> None:
    zh, en = _tables()
    assert len(zh) > 400  # the pattern still reads the tables
    assert zh - en == set(), "keys missing in English"
    # (a "_one" form is English's singular, which Chinese does not have: t() falls back to the key's)
    assert {k for k in en - zh if not k.endswith("_one")} == set(), "keys missing in Chinese"


# English strings counting `{n}` things that are only said of two or more (the code picks another
# key for one): each other count of plural things has its `_one` form, which t() takes when n is 1.
ONLY_MANY = {"n_sanctions_standing", "n_platform_since", "new_join_requests", "messages_said", "pinned_n",
             "uses_n", "edit_too_long", "text_too_long", "name_too_long"}
PLURAL_COUNT = re.compile(r"\{n\} (?:\w+ )?\w+s\b")


def test_every_english_count_that_may_be_one_has_its_singular() -> None:
    """A reviewer's case: "1 messages of Bob deleted", "1 requests declined"."""
    src = I18N.read_text(encoding="utf-8")
    en = src[src.index("const en = {"):src.index("const TABLES")]
    strings = dict(re.findall(r'([a-z][a-z0-9_]*): "((?:[^"\\]|\\.)*)"', en))
    plural = {k for k, v in strings.items() if not k.endswith("_one") and PLURAL_COUNT.search(v)}
    assert len(plural) > 10  # the patterns still read the table
    assert {k for k in plural - ONLY_MANY if k + "_one" not in strings} == set()
    for k in ONLY_MANY:   # (each still exists and counts: a renamed key is taken out of the list)
        assert k in plural, k


def test_english_at_phone_width_fits_the_account_dialog_and_reads_as_english(browser: Any,
                                                                             server: ServerProcess) -> None:
    """A reviewer's cases: at 360 px in English, Log out sat outside the account dialog (its row of
    buttons did not wrap); a quote, the announcement and the log used the Chinese colon "："; a dialog's
    close button was labelled "close" in either language, its title not tied to it; and the account
    dialog's name field had no label."""
    page = new_page(browser, server, width=360, height=780, lang="en")
    page.evaluate("() => localStorage.setItem('qg.lang', 'en')")
    page.reload()
    register(page, server, display="Alice")
    page.click("#btn-profile")
    dialog = page.locator("dialog[open]")
    dialog.wait_for()
    edge = dialog.bounding_box()
    assert edge is not None
    for button in dialog.locator(".modal-body button:visible").all():
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= edge["x"] + edge["width"] + 0.5, button.inner_text()
    assert dialog.locator(".modal-head button").get_attribute("aria-label") == "Close"
    title = dialog.locator(".modal-head h2")
    assert dialog.get_attribute("aria-labelledby") == title.get_attribute("id")
    assert page.locator("#profile-name").get_attribute("aria-label") == "Display name"
    assert page.evaluate("() => [...document.querySelectorAll('*')].some((e) => e.childElementCount === 0"
                         " && e.textContent.includes('：'))") is False
    assert page.errors == []


def test_the_notices_read_in_the_language_of_the_moment(browser: Any, server: ServerProcess) -> None:
    """A reviewer's case: a notice kept the words of the language it arrived in, so after a switch to
    English the list still read 平台公告：…, with English times beside it."""
    from tests.web.browser import run_async

    page = new_page(browser, server)
    register(page, server, display="Alice")
    rc, _, err = run_async(server.admin("notice", "--text", "系统维护"))
    assert rc == 0, err
    page.wait_for_selector("#notice-count:visible")
    page.click("#lang-btn")
    page.click("#btn-notices")
    expect(page.locator("#notice-list")).to_contain_text("Platform notice: 系统维护")
    assert page.errors == []


def test_the_first_visit_takes_the_browsers_language_and_a_choice_stays(browser: Any, server: ServerProcess) -> None:
    """An en-US browser started in Chinese: English readers had to find the switch first."""
    en = new_page(browser, server, lang="en-US")
    expect(en.locator("#login-submit")).to_have_text("Log in")
    en.click("#lang-btn")  # 中文, chosen: it stays so on this browser, whatever its language
    expect(en.locator("#login-submit")).to_have_text("登录")
    en.reload()
    expect(en.locator("#login-submit")).to_have_text("登录")
    zh = new_page(browser, server, lang="zh-CN")
    expect(zh.locator("#login-submit")).to_have_text("登录")
    other = new_page(browser, server, lang="fr-FR")  # (neither: Chinese, the default)
    expect(other.locator("#login-submit")).to_have_text("登录")
    assert en.errors == zh.errors == other.errors == []
