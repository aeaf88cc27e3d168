"""Review of the day's web changes (``account_updated`` reaching an open account page), each test failing
before its fix.

The owner's settings dialog (公众号设置) is filled with the name and introduction the page showed when it
opened, and its save sent each field that differed from what the page shows *now*. Since the page
follows ``account_updated`` (and re-reads the account after the platform's notices), a name the page
learns meanwhile (the platform's ``remove-text`` or ``grant-name``, a rename from the owner's other
device) made the untouched name field differ: saving a new introduction alone sent the old name back,
undoing the platform's removal (the name it took down as illegal was shown again) or the grant. Now
a field the owner left as it was follows the account's new name or intro, and is not sent."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import Background, find_account, login, new_page


def test_saving_the_intro_after_the_platform_removed_the_name_does_not_send_the_name_back(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    from tests.web.browser import admin_ok

    owner = bg.run(server.user(verify_id=True))
    aid = bg.run(owner.request("create_account", name="茶话会", category="culture", intro="喝茶",
                               subject_type="individual"))["account_id"]
    page = new_page(browser, server)
    login(page, owner.username)
    find_account(page, aid)
    page.click("#btn-account-manage")
    page.wait_for_selector("#account-edit-form")
    expect(page.locator("#account-edit-name")).to_have_value("茶话会")

    admin_ok(server, "remove-text", "account_name", aid, "--reason", "冒充他人")
    expect(page.locator("#account-name")).to_have_text(f"公众号 {aid}")   # the page behind the dialog follows
    expect(page.locator("#account-edit-name")).to_have_value(f"公众号 {aid}")   # and the untouched field

    page.fill("#account-edit-intro", "每日一茶")   # the introduction alone is changed
    page.click("#account-edit-save")
    expect(page.locator("#account-manage-dialog .form-msg.ok")).to_be_visible()
    info = bg.run(owner.request("account_info", account_id=aid))
    assert (info["name"], info["intro"]) == (f"公众号 {aid}", "每日一茶"), info   # not the removed name again
    expect(page.locator("#account-edit-name")).to_have_value(f"公众号 {aid}")

    # A name the owner does type is still sent, whatever the page learnt meanwhile.
    page.fill("#account-edit-name", "茶话周刊")
    page.click("#account-edit-save")
    expect(page.locator("#account-name")).to_have_text("茶话周刊")
    assert bg.run(owner.request("account_info", account_id=aid))["name"] == "茶话周刊"
    assert page.errors == []
