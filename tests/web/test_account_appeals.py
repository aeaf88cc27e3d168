"""A public account's sanction is appealed from its notice, as a group's is: the owner's notice of a
suspension, warning or restriction of comments carries 申诉 with the sanction's id filled in; an
editor's notice of the same measure carries none (the owner answers for the account)."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import admin_ok, close_dialogs, create_account, new_page, register, verify_identity
from tests.web.test_account_live import set_editor


def test_an_accounts_suspension_is_appealed_from_its_owners_notice(browser: Any, server: ServerProcess) -> None:
    alice, bob = new_page(browser, server), new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    verify_identity(alice)
    verify_identity(bob)   # (an editor's identity is verified, as the owner's)
    aid = create_account(alice, "茶馆日报")
    bob.click("#btn-profile")
    bob_id = bob.inner_text("#my-user-id")
    close_dialogs(bob)
    set_editor(alice, bob_id, True)
    expect(bob.locator("#notice-count")).to_have_text("1")   # (made an editor)

    admin_ok(server, "suspend-account", aid, "--seconds", "3600", "--reason", "违规转载")
    rows = [json.loads(x) for x in admin_ok(server, "sanctions", "--account", aid).splitlines()]
    sid = str(next(r["id"] for r in rows if r["kind"] == "suspend_account"))
    for page in (alice, bob):
        page.wait_for_selector("#notice-count:not([hidden])")
        page.click("#btn-notices")
        page.wait_for_selector("#notice-list li:has-text('违规转载')")
    expect(bob.locator("#notice-list li:has-text('违规转载') button")).to_have_count(0)   # an editor's: none
    close_dialogs(bob)
    alice.click("#notice-list li:has-text('违规转载') button:has-text('申诉')")
    assert alice.input_value("#appeal-sanction") == sid
    alice.fill("#appeal-text", "转载已获授权")
    alice.click("#appeal-submit")
    alice.wait_for_selector("#toasts .toast:has-text('申诉已提交')")
    [appeal] = [json.loads(x) for x in admin_ok(server, "appeals", "--open").splitlines()]
    assert appeal["sanction_id"] == sid and appeal["text"] == "转载已获授权"
    assert alice.errors == [] and bob.errors == []
