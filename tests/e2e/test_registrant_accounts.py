"""Registrant accounts, the portal and self-registration in a real browser (issue items 4-6, N1, S2, S-R2, S-R5).

These pages need settings the shared live server does not have (self-registration open, mailed links
pointing at the server itself, an access log to inspect), so this module starts its own gunicorn on
127.0.0.1 with the same helpers. Every page is screenshotted at 375 px and 1280 px and checked with axe.
Mail is read from the outbox table (the SMTP path itself is covered by the integration tests).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    PHONE,
    WIDTHS,
    _build_app,
    _free_port,
    _prepare_database,
    _server_settings,
    _wait_until_healthy,
    page_factory,
)
from tests.e2e.support import BREADCRUMBS, check_page, horizontal_overflow, staff_login

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Hakodate2027Goryokaku"
TOKEN_LINK = re.compile(r"/(?:account/setup|account/reset|register/verify)/[A-Za-z0-9_\-]{20,}")


@dataclass
class AccountsServer:
    url: str
    app: Any
    logins: dict[str, Any]
    access_log: Path
    console_errors: list[str]


@pytest.fixture(scope="module")
def accounts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccountsServer]:
    instance = tmp_path_factory.mktemp("e2e-accounts")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = {**_server_settings(instance), "self_registration": "open", "public_base_url": url}
    app = _build_app(instance, settings)
    logins, _registrant_id, _name = _prepare_database(app)
    access_log = instance / "access.log"
    env = {**os.environ, "TSUNAGU_INSTANCE_PATH": str(instance),
           **{f"TSUNAGU_{name.upper()}": value for name, value in settings.items()}}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with (instance / "gunicorn.log").open("wb") as log:
        process = subprocess.Popen(
            [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
             "--access-logfile", str(access_log), "--chdir", str(Path(__file__).resolve().parents[2]),
             "app:create_app()"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(url, process, instance)
        yield AccountsServer(url=url, app=app, logins=logins, access_log=access_log, console_errors=[])
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def open_page(browser: Any, accounts_server: AccountsServer) -> Iterator[Callable[[int], Any]]:
    """A page in a fresh context; anything not on this module's server is aborted."""
    with page_factory(browser, accounts_server.url, accounts_server.console_errors) as factory:
        yield factory
    assert accounts_server.console_errors == []


def look(page: Any, name: str, width: int) -> None:
    check_page(page, name, width)
    if width == PHONE:
        assert horizontal_overflow(page) == [], f"{page.url} scrolls sideways at {width}px"


def latest_link(server: AccountsServer, category: str, email: str) -> str:
    """The one-time link of the newest mail of a kind to an address, as the recipient would click it."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.mail.models import OutboxMessage

    with server.app.app_context():
        body = db.session.scalars(sa.select(OutboxMessage.body_text).where(
            OutboxMessage.category == category, OutboxMessage.to_address == email)
            .order_by(OutboxMessage.id.desc())).first()
        db.session.remove()
    assert body, f"no {category} mail to {email}"
    match = re.search(re.escape(server.url) + r"/\S+", body)
    assert match, body
    return match.group(0)


def invite_new_registrant(server: AccountsServer, email: str) -> None:
    from datetime import date

    from app.extensions import db
    from app.registrants.accounts import send_invitation
    from app.registrants.models import Registrant

    with server.app.app_context():
        registrant = Registrant(email=email, family_name="招待", given_name="太郎", family_name_kana="ショウタイ",
                                given_name_kana="タロウ", valid_until=date(2027, 3, 31), source="e_application")
        db.session.add(registrant)
        db.session.flush()
        send_invitation(db.session, server.app.extensions["tsunagu.settings"], registrant)
        db.session.commit()
        db.session.remove()


def set_password(page: Any, password: str, button: str) -> None:
    page.locator("input[name=new_password]").fill(password)
    page.locator("input[name=confirm]").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


@pytest.mark.parametrize("width", WIDTHS)
def test_public_pages_guide_sign_up_and_reset(open_page: Any, accounts_server: AccountsServer, width: int) -> None:
    """S-R2 top page, S-R5 guide, privacy notice, sign-up form (with its error state), reset request, and the
    clear page for an unusable link, at phone and desktop widths with no serious axe violation."""
    page = open_page(width)
    base = accounts_server.url
    for name, path in (("portal-index-signup-open", "/"), ("portal-guide", "/guide"), ("portal-privacy", "/privacy"),
                       ("portal-login-signup-open", "/login"), ("portal-register", "/register"),
                       ("account-reset-request", "/account/reset")):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        look(page, name, width)
    page.goto(base + "/guide")
    assert page.locator("main h2").count() >= 8 and page.locator("ol.steps").count() >= 6

    page.goto(base + "/register")
    page.locator("#family_name").fill("佐藤")
    with page.expect_navigation():
        page.get_by_role("button", name="確認メールを送る").click()
    assert page.locator(".field-errors").count() >= 1
    assert page.locator("#family_name").input_value() == "佐藤"  # nothing typed is lost
    look(page, "portal-register-errors", width)

    page.goto(base + "/account/reset")
    page.locator("input[name=email]").fill(f"nobody-{width}@example.com")
    with page.expect_navigation():
        page.get_by_role("button", name="再設定のメールを送る").click()
    assert page.url == base + "/account/reset-sent"
    look(page, "account-reset-sent", width)

    response = page.goto(base + "/account/setup/" + "A" * 43)
    assert response is not None and response.status == 400
    assert page.url == base + "/account/setup"  # the token left the address bar at once
    assert page.locator("h1").inner_text() == "このリンクは使えません"
    look(page, "account-link-problem", width)


@pytest.mark.parametrize("width", WIDTHS)
def test_invitation_link_to_password_to_own_record(open_page: Any, accounts_server: AccountsServer,
                                                   width: int) -> None:
    """Accounts: the mailed invitation link → set a password (a weak one is refused with reasons) → /me with
    the registrant's own data → preferences → withdrawal request; a used link then shows a clear page."""
    email = f"invited-{width}@example.com"
    invite_new_registrant(accounts_server, email)
    link = latest_link(accounts_server, "invitation", email)
    page = open_page(width)
    page.goto(link)
    assert page.url == accounts_server.url + "/account/setup"
    assert "招待 太郎" in page.locator("main").inner_text()
    look(page, "account-setup", width)

    set_password(page, "password", "パスワードを設定してログイン")
    assert "12文字以上" in page.locator(".field-errors").inner_text()
    look(page, "account-setup-weak-password", width)
    set_password(page, NEW_PASSWORD, "パスワードを設定してログイン")
    assert page.url == accounts_server.url + "/me"
    main = page.locator("main").inner_text()
    assert "招待 太郎" in main and email in main and "電子申請システム" in main
    assert accounts_server.logins["registrant@example.com"].email not in main  # no one else's data
    look(page, "portal-me-invited", width)

    page.goto(accounts_server.url + "/me/preferences")
    look(page, "portal-preferences", width)
    page.get_by_label("お知らせメール(採用情報・研修・イベントなどのご案内)を受け取る").uncheck()
    with page.expect_navigation():
        page.get_by_role("button", name="保存する").click()
    assert "設定を保存しました。" in page.locator(".flashes").inner_text()
    assert page.locator("table tbody tr").count() == 1  # the consent history shows the change

    page.goto(accounts_server.url + "/me/withdraw")
    look(page, "portal-withdraw", width)
    with page.expect_navigation():
        page.get_by_role("button", name="退会を申し出る").click()
    assert "退会のお申し出を受け付けています" in page.locator("main").inner_text()
    look(page, "portal-me-withdrawal-requested", width)

    again = open_page(width)
    response = again.goto(link)
    assert response is not None and response.status == 410
    assert "すでに使われています" in again.locator("main").inner_text()


@pytest.mark.parametrize("width", WIDTHS)
def test_qr_sign_up_verification_and_own_profile(open_page: Any, accounts_server: AccountsServer,
                                                 width: int) -> None:
    """N1: a QR code leads to the form; the verification link sets the password; the person edits their profile."""
    email = f"signup-{width}@example.com"
    page = open_page(width)
    page.goto(accounts_server.url + "/r/unknown-code")
    assert page.url == accounts_server.url + "/register"
    page.locator("#family_name").fill("佐藤")
    page.locator("#given_name").fill("美咲")
    page.locator("#family_name_kana").fill("サトウ")
    page.locator("#given_name_kana").fill("ミサキ")
    page.locator("#email").fill(email)
    page.locator("#birth_date").fill("平成2年5月5日")
    page.locator("#region").select_option(index=1)
    page.locator("input[name=job_types]").first.check()
    page.get_by_label("「個人情報の取扱い」を読み、同意します(必須)").check()
    with page.expect_navigation():
        page.get_by_role("button", name="確認メールを送る").click()
    assert page.url == accounts_server.url + "/register/sent"
    look(page, "portal-register-sent", width)

    page.goto(latest_link(accounts_server, "verification", email))
    assert page.url == accounts_server.url + "/register/verify"
    look(page, "portal-verify-password", width)
    set_password(page, NEW_PASSWORD, "登録を完了する")
    assert page.url == accounts_server.url + "/me"
    assert "佐藤 美咲" in page.locator("main").inner_text()

    with page.expect_navigation():
        page.get_by_role("link", name="登録内容を変更する").click()
    look(page, "portal-profile", width)
    page.locator("#phone").fill("095-000-1234")
    with page.expect_navigation():
        page.get_by_role("button", name="保存する").click()
    assert page.url == accounts_server.url + "/me"
    assert "095-000-1234" in page.locator("main").inner_text()


@pytest.mark.parametrize("width", WIDTHS)
def test_registration_admin_and_mail_view(open_page: Any, accounts_server: AccountsServer, width: int) -> None:
    """Staff: registration intake, QR codes (created in the browser), invitation form, mail view; breadcrumbs."""
    page = open_page(width)
    admin = accounts_server.logins["admin@example.com"]
    staff_login(page, accounts_server.url, admin.email, admin.password)
    base = accounts_server.url

    page.goto(base + "/admin/registrations/referrals")
    page.locator("#label").fill(f"パンフレット {width}")
    with page.expect_navigation():
        page.get_by_role("button", name="作成").click()
    assert f"パンフレット {width}" in page.locator("main table").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name=f"PNG画像 (パンフレット {width})").click()
    assert Path(download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    page.goto(base + "/admin/registrations/invite")
    page.locator("#email").fill(f"friend-{width}@example.com")
    with page.expect_navigation():
        page.get_by_role("button", name="案内メールを送る").click()
    assert "登録の案内メールを送信待ちにしました。" in page.locator(".flashes").inner_text()

    for name, path, heading in (("admin-registrations", "/admin/registrations/", "登録受付"),
                                ("admin-referrals", "/admin/registrations/referrals", "登録用QRコード"),
                                ("admin-invite", "/admin/registrations/invite", "登録の案内を送る"),
                                ("admin-mail", "/admin/mail/", "メール送信状況")):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        assert page.locator("main h1").inner_text() == heading
        assert page.locator(BREADCRUMBS).count() == 1
        look(page, name, width)
    with page.expect_navigation():
        page.locator("main table a").first.click()
    assert "/admin/mail/" in page.url
    assert page.locator(BREADCRUMBS).locator("li").count() == 3
    look(page, "admin-mail-detail", width)


def test_no_one_time_token_reaches_the_access_log(open_page: Any, accounts_server: AccountsServer) -> None:
    """The tokens of every link followed above appear in gunicorn's access log only as [redacted]."""
    email = "log-check@example.com"
    invite_new_registrant(accounts_server, email)
    link = latest_link(accounts_server, "invitation", email)
    page = open_page(PHONE)
    page.goto(link)
    token = link.rsplit("/", 1)[1]
    text = accounts_server.access_log.read_text()
    assert "/account/setup/[redacted]" in text
    assert token not in text
    assert not TOKEN_LINK.search(text.replace("[redacted]", "")), "a token-bearing path was logged"
