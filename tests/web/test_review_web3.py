"""Web client review (rv-web3): flows the other browser tests cover least. Each test here failed when
it was written, against the client as it was then."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import ServerProcess
from tests.web.browser import (
    Background,
    create_group,
    find_account,
    message,
    new_page,
    open_post,
    register,
)


def _account_with_post(bg: Background, server: ServerProcess) -> str:
    owner = bg.run(server.user(verify_id=True))
    aid = bg.run(owner.request("create_account", name="茶馆日报", category="culture", intro="每日一茶",
                               subject_type="individual"))["account_id"]
    bg.run(owner.request("publish", account_id=aid, title="开张", body="欢迎光临"))
    return str(aid)


def test_back_on_a_phone_goes_from_a_post_to_its_account_and_the_list_not_off_the_app(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """At phone width a public account's page, and a post opened from it, fill the screen as a chat
    does, with ‹ to go back. The phone's Back button goes from a chat to the list (the open chat is a
    history entry: test_phone.py), but from an account's page or a post it left the app altogether:
    the page had pushed no history entry for them, so a reader who pressed Back to leave a post they
    had read lost the whole app (and, on a phone, the login's page state with it)."""
    aid = _account_with_post(bg, server)
    page = new_page(browser, server, width=375, height=700, touch=True)
    register(page, server)
    app_url = page.url
    find_account(page, aid)
    open_post(page, "开张")
    page.go_back()
    page.wait_for_timeout(500)
    assert page.url == app_url, page.url   # still the app
    page.wait_for_selector(f"#account-pane[data-aid='{aid}'] #post-list", timeout=3000)   # back at the account
    page.go_back()
    page.wait_for_timeout(500)
    assert page.url == app_url, page.url
    page.wait_for_selector("body:not(.show-account) #account-side", timeout=3000)   # back at the list
    assert page.errors == []


def test_banning_a_spammer_with_one_message_deleted_says_one_message_in_english(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """An owner bans a member who posted one advert, with “delete their messages in this group”
    (delete_user_messages) ticked: the English toast said “1 messages of Spammer deleted”. The string
    table words other counts of one apart with a “_one” form (rv-web2 fixed “1 members” the same way);
    clean_done had none."""
    page = new_page(browser, server, lang="en")
    register(page, server, display="Owner")
    gid = create_group(page, "Book club")
    spammer = bg.run(server.user())
    bg.run(spammer.request("set_profile", display_name="Spammer"))
    bg.run(spammer.request("join_group", group_id=gid))
    bg.run(spammer.request("send", group_id=gid, text="cheap watches here"))
    message(page, "cheap watches here")
    page.click("#btn-manage")
    page.locator(f"#member-list .member[data-uid='{spammer.user_id}'] .act-ban").click()
    page.check("#ban-clean")
    page.click("#ban-submit")
    toast = page.locator("#toasts .toast", has_text="deleted")
    toast.wait_for()
    said = toast.inner_text()
    assert "Spammer" in said, said
    assert "1 messages" not in said, said
    assert page.errors == []
