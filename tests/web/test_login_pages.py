"""Login, two-factor enrolment, language switch and sign-out in a real browser (Debian Chromium)."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from tests.fixtures import World, totp_now
from tests.web.conftest import screenshot


@pytest.mark.sec("SEC-08")
def test_admin_signs_in_with_totp_switches_language_and_signs_out(live_server: str, world: World, page: Any) -> None:
    inst = world.institution()
    admin = inst.accounts["admin"]
    page.goto(f"{live_server}/login")
    assert page.locator("h1").inner_text() == "登录"
    screenshot(page, "login-zh")
    page.fill("#institution", inst.slug)
    page.fill("#username", admin.username)
    page.fill("#password", "wrong-password-123")
    page.click("button[type=submit]")
    assert "机构、用户名、密码或动态码错误" in page.locator("#login-error").inner_text()
    page.fill("#password", admin.password)
    page.click("button[type=submit]")
    assert "动态码" in page.locator("#login-error").inner_text()  # TOTP required
    page.fill("#password", admin.password)
    page.fill("#totp", totp_now(admin.totp_secret or ""))
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{live_server}/console"
    assert page.locator("#who").inner_text() == admin.username
    assert page.locator("#tenant").inner_text() == inst.slug
    screenshot(page, "console-zh")
    with page.expect_navigation():
        page.click("text=English")
    assert page.url == f"{live_server}/console"
    assert page.locator("h1").inner_text().startswith("Welcome")
    screenshot(page, "console-en")
    with page.expect_navigation():
        page.click("#logout")
    assert page.url == f"{live_server}/login"
    assert page.locator("h1").inner_text() == "Sign in"
    with page.expect_navigation():
        page.goto(f"{live_server}/console")
    assert page.url == f"{live_server}/login"


def test_supervisor_without_second_factor_enrols_by_qr_code(live_server: str, world: World, page: Any) -> None:
    inst = world.institution(roles=())
    sup = world.user(inst.slug, role="supervisor", enrol_totp=False)
    page.goto(f"{live_server}/login")
    page.fill("#institution", inst.slug)
    page.fill("#username", sup.username)
    page.fill("#password", sup.password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{live_server}/enrol"
    assert page.locator(".qr svg").count() == 1
    screenshot(page, "enrol-zh")
    secret = page.locator("#totp-secret").inner_text()
    page.fill("#code", "000000")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{live_server}/enrol?error=code"
    secret = page.locator("#totp-secret").inner_text()  # a new key was issued with the page
    page.fill("#code", pyotp.TOTP(secret).now())
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{live_server}/console"
    assert page.locator("#who").inner_text() == sup.username


def test_locked_account_message(live_server: str, world: World, page: Any) -> None:
    inst = world.institution(roles=("agent",))
    agent = inst.accounts["agent"]
    page.goto(f"{live_server}/login")
    for _ in range(5):
        page.fill("#institution", inst.slug)
        page.fill("#username", agent.username)
        page.fill("#password", "wrong-password-123")
        page.click("button[type=submit]")
    page.fill("#password", agent.password)
    page.click("button[type=submit]")
    assert "锁定" in page.locator("#login-error").inner_text()


def test_keyboard_only_sign_in(live_server: str, world: World, page: Any) -> None:
    inst = world.institution(roles=("agent",))
    agent = inst.accounts["agent"]
    page.goto(f"{live_server}/login")
    page.focus("#institution")
    page.keyboard.type(inst.slug)
    page.keyboard.press("Tab")
    page.keyboard.type(agent.username)
    page.keyboard.press("Tab")
    page.keyboard.type(agent.password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{live_server}/console"
    # Every form field has a label.
    page.goto(f"{live_server}/login")
    for field in ("institution", "username", "password", "totp"):
        assert page.locator(f"label[for={field}]").count() == 1
