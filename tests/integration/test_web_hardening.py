"""HTTP hardening: headers, cookies, CSRF, request limits, bad input, rate limits, error pages,
redirects, the health check and output escaping (PRODUCT §5 security; S-A15)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from flask import Flask

from app import create_app
from app.auth.models import LoginSession
from app.core.errors import MESSAGES
from tests.conftest import SECRET, STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

EN_MO = Path(__file__).resolve().parents[2] / "app" / "translations" / "en" / "LC_MESSAGES" / "messages.mo"
JAPANESE_TITLES = {code: str(title) for code, (title, _body) in MESSAGES.items()}
STACK_TRACE_MARKERS = ("Traceback", 'File "', "werkzeug", "sqlalchemy", "RuntimeError")


def english(msgid: str) -> str | None:
    """The compiled English translation of a message, or None while the catalog is not there yet."""
    if not EN_MO.exists():
        return None
    with EN_MO.open("rb") as fh:
        message = read_mo(fh).get(msgid)
    return str(message.string) if message and message.string else None


def assert_no_stack_trace(text: str) -> None:
    for marker in STACK_TRACE_MARKERS:
        assert marker not in text, f"{marker!r} leaked into the page"


def set_cookies(response) -> list[str]:  # type: ignore[no-untyped-def]
    return response.headers.getlist("Set-Cookie")


# --- headers and cookies ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/login", "/admin/login"])
def test_security_headers_on_portal_and_admin_pages(client, path):
    """S-A15 headers: a strict CSP, nosniff, a referrer policy; no HSTS over plain http."""
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"  # for browsers that predate frame-ancestors
    assert "default-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in {"same-origin", "strict-origin-when-cross-origin", "no-referrer"}
    assert "Strict-Transport-Security" not in response.headers


def test_pages_carry_no_inline_script_or_style(client, make_staff):
    """The CSP has no 'unsafe-inline', so no page may rely on inline script or style."""
    user = make_staff("administrator")
    pages = ["/", "/login", "/admin/login"]
    login(client, user.email, STRONG_PASSWORD)
    pages += ["/admin/", "/admin/registrants", "/admin/staff", "/admin/audit", "/admin/security/locks"]
    for path in pages:
        text = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert "<style" not in text and " style=" not in text, path
        assert not re.search(r"\son[a-z]+=", text), path


def test_cookies_are_httponly_and_samesite_lax(client):
    """S-A15 cookies: the session and the language cookie are HttpOnly and SameSite=Lax; no Secure over http."""
    response = client.get("/admin/login")
    session_cookie = [c for c in set_cookies(response) if c.startswith("tsunagu_session=")]
    assert session_cookie, set_cookies(response)
    lang = client.get("/lang/en?next=/")
    cookies = session_cookie + [c for c in set_cookies(lang) if c.startswith("tsunagu_lang=")]
    assert len(cookies) == 2
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
        assert "Secure" not in cookie, cookie


def test_forwarded_https_is_ignored_without_a_trusted_proxy(client):
    """A client cannot fake TLS with X-Forwarded-Proto when no proxy is trusted."""
    response = client.get("/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
    assert all("Secure" not in c for c in set_cookies(response))


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": 1}])
def test_behind_a_trusted_tls_proxy_hsts_and_secure_cookie(client, settings_overrides):
    """S-A15: behind Apache (trusted_proxies=1) a request that came over https gets HSTS and a Secure cookie."""
    response = client.get("/admin/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    session_cookie = [c for c in set_cookies(response) if c.startswith("tsunagu_session=")]
    assert session_cookie and "Secure" in session_cookie[0]
    assert "HttpOnly" in session_cookie[0] and "SameSite=Lax" in session_cookie[0]
    lang = client.get("/lang/en?next=/", headers={"X-Forwarded-Proto": "https"})
    assert any(c.startswith("tsunagu_lang=") and "Secure" in c for c in set_cookies(lang))


# --- CSRF, request size, bad input ------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/admin/login", "/login"])
def test_login_post_without_csrf_token_is_refused(app, client, make_staff, make_registrant, path):
    """S-A15 CSRF: a POST without a token gets the Japanese 400 page, no trace, and logs nobody in."""
    staff, registrant = make_staff("administrator"), make_registrant()
    email = staff.email if path.startswith("/admin") else registrant.email
    client.get(path)
    response = client.post(path, data={"email": email, "password": STRONG_PASSWORD})
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "フォームの有効期限が切れました" in text
    assert_no_stack_trace(text)
    assert count_rows(app, LoginSession) == 0
    assert client.get("/admin/").status_code == 302
    assert client.get("/me").status_code == 302


def test_post_with_a_forged_csrf_token_is_refused(app, client, make_staff):
    user = make_staff("administrator")
    client.get("/admin/login")
    response = client.post("/admin/login", data={"csrf_token": "forged", "email": user.email,
                                                 "password": STRONG_PASSWORD})
    assert response.status_code == 400
    assert count_rows(app, LoginSession) == 0


@pytest.mark.parametrize("settings_overrides", [{"max_request_bytes": 64 * 1024}])
@pytest.mark.parametrize("path", ["/admin/login", "/login"])
def test_oversized_request_body_gets_the_japanese_413_page(client, settings_overrides, path):
    """S-A15: a body over max_request_bytes is refused with 413 before it is parsed."""
    token = csrf_token(client, path)
    response = client.post(path, data={"csrf_token": token, "email": "a" * (70 * 1024), "password": "x"})
    text = response.get_data(as_text=True)
    assert response.status_code == 413
    assert JAPANESE_TITLES[413] in text
    assert_no_stack_trace(text)


def test_over_long_field_gets_a_field_message(client):
    """An e-mail of 300 characters is a field error on the form, not a 500."""
    token = csrf_token(client, "/admin/login")
    response = client.post("/admin/login", data={"csrf_token": token, "email": "a" * 290 + "@example.jp",
                                                 "password": "whatever-it-is"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    errors = re.search(r'<ul class="field-errors" id="email-errors">(.*?)</ul>', text, re.S)
    assert errors, "no field-level error for the e-mail"
    assert "254" in errors.group(1) and "文字" in errors.group(1)  # WTForms' own message, in Japanese
    assert_no_stack_trace(text)


@pytest.mark.parametrize("path", ["/admin/login", "/login"])
def test_non_utf8_form_field_gets_a_field_message(app, client, make_staff, path):
    """Shift_JIS bytes in a form field are refused with a message about the character encoding."""
    make_staff("viewer", email="sjis@example.com")
    token = csrf_token(client, path)
    body = f"csrf_token={token}&email=%82%A0%82%A2%82%A4%40example.com&password=Abcdefgh12345".encode("ascii")
    response = client.post(path, data=body, content_type="application/x-www-form-urlencoded")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    errors = re.search(r'<ul class="field-errors" id="email-errors">(.*?)</ul>', text, re.S)
    assert errors and "文字コード" in errors.group(1)
    assert "\ufffd" not in text  # the mangled value is not echoed back either
    assert count_rows(app, LoginSession) == 0


BOGUS_QUERIES = [
    "/admin/registrants?page=abc", "/admin/registrants?page=-1", "/admin/registrants?page=99999999999999999999",
    "/admin/registrants?q=%82%A0", "/admin/registrants?q=%00", "/admin/registrants?q=%25%5F" + "x" * 200,
    "/admin/audit?page=abc&date_from=notadate&date_to=2026-13-45",
    "/admin/audit?date_from=0001-01-01&date_to=9999-12-31", "/admin/audit?actor_kind=nobody&action=%FF",
    "/admin/staff?role=root&q=%FF", "/admin/registrants/99999999",
]


def test_bogus_query_strings_do_not_break_admin_pages(client, make_staff):
    """Bad paging, dates, choices and encodings in a query string give the page (with a notice), never a 500."""
    user = make_staff("administrator")
    login(client, user.email, STRONG_PASSWORD)
    for query in BOGUS_QUERIES:
        response = client.get(query)
        assert response.status_code in {200, 404}, (query, response.status_code)
        assert_no_stack_trace(response.get_data(as_text=True))
    notice = client.get("/admin/audit?date_from=0001-01-01").get_data(as_text=True)
    assert "絞り込み条件を確認してください。" in notice


def test_a_password_with_percent_hex_still_logs_in(client, make_staff):
    """The encoding check does not touch secrets: "%A0" typed in a password is just characters."""
    password = "Kumamoto%A0Sakura%8F2026"
    user = make_staff("viewer", password=password)
    assert login(client, user.email, password).status_code == 302


# --- rate limit -----------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [{"login_rate_limit": "3 per minute"}])
@pytest.mark.parametrize("path", ["/admin/login", "/login"])
def test_login_rate_limit_gives_the_japanese_429_page(client, settings_overrides, path):
    """S-A15: the fourth login POST within a minute (limit 3) is answered 429."""
    token = csrf_token(client, path)
    data = {"csrf_token": token, "email": "nobody@example.com", "password": "Wrong-password-123"}
    for _ in range(3):
        assert client.post(path, data=data).status_code == 200
    response = client.post(path, data=data)
    text = response.get_data(as_text=True)
    assert response.status_code == 429
    assert JAPANESE_TITLES[429] in text
    assert "<html" in text  # the styled page, not the limiter's default text
    assert client.get(path).status_code == 200  # the limit is on POST only


# --- error pages ------------------------------------------------------------------------------------

def _error_responses(client, make_staff, lang: str | None):  # type: ignore[no-untyped-def]
    if lang:
        client.set_cookie("tsunagu_lang", lang)
    viewer = make_staff("viewer")
    login(client, viewer.email, STRONG_PASSWORD)
    token = csrf_token(client, "/admin/")
    yield 403, client.get("/admin/staff")
    yield 404, client.get("/no-such-page")
    yield 404, client.get("/admin/no-such-page")
    yield 405, client.get("/admin/logout")
    yield 413, client.post("/login", data={"csrf_token": token, "email": "a" * (70 * 1024), "password": "x"})
    data = {"csrf_token": token, "email": "nobody@example.com", "password": "Wrong-password-123"}
    for _ in range(3):
        client.post("/login", data=data)
    yield 429, client.post("/login", data=data)
    yield 500, client.get("/boom")


ERROR_PAGE_SETTINGS = {"max_request_bytes": 64 * 1024, "login_rate_limit": "3 per minute"}


def _add_failing_route(app: Flask) -> None:
    def boom() -> str:
        raise RuntimeError("kaboom: secret internals")

    app.add_url_rule("/boom", endpoint="boom", view_func=boom)


@pytest.mark.parametrize("settings_overrides", [ERROR_PAGE_SETTINGS])
def test_error_pages_are_japanese_by_default(app, client, make_staff, settings_overrides):
    """403/404/405/413/429/500 render the Japanese error page with its code; no trace anywhere."""
    _add_failing_route(app)
    seen = set()
    for code, response in _error_responses(client, make_staff, None):
        text = response.get_data(as_text=True)
        assert response.status_code == code, (code, response.status_code)
        assert JAPANESE_TITLES[code] in text, code
        assert '<html lang="ja"' in text
        assert_no_stack_trace(text)
        assert "kaboom" not in text
        seen.add(code)
    assert seen == {403, 404, 405, 413, 429, 500}


@pytest.mark.parametrize("settings_overrides", [ERROR_PAGE_SETTINGS])
def test_error_pages_follow_the_english_switch(app, client, make_staff, settings_overrides):
    """With the tsunagu_lang=en cookie the error pages are English, where the English catalog has the text."""
    _add_failing_route(app)
    checked = 0
    for code, response in _error_responses(client, make_staff, "en"):
        text = response.get_data(as_text=True)
        assert response.status_code == code
        assert_no_stack_trace(text)
        expected = english(JAPANESE_TITLES[code])
        if expected is None:  # English catalog not compiled yet: the Japanese page is the fallback
            assert JAPANESE_TITLES[code] in text
            continue
        assert expected in text, (code, expected)
        assert JAPANESE_TITLES[code] not in text
        assert '<html lang="en"' in text
        checked += 1
    if not EN_MO.exists():
        pytest.skip("app/translations/en/LC_MESSAGES/messages.mo not compiled yet (make translations)")
    assert checked, "the English catalog has none of the error page titles"


def test_unhandled_exception_is_logged_and_not_shown(app, client, caplog):
    """A forced 500: the page says only that an error happened; the exception goes to the log."""
    _add_failing_route(app)
    with caplog.at_level(logging.ERROR, logger="tsunagu.errors"):
        response = client.get("/boom")
    text = response.get_data(as_text=True)
    assert response.status_code == 500
    assert JAPANESE_TITLES[500] in text
    assert "kaboom" not in text
    assert_no_stack_trace(text)
    logged = [r for r in caplog.records if r.name == "tsunagu.errors" and r.exc_info]
    assert logged and "kaboom" in str(logged[0].exc_info[1])


# --- redirects ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example", "\\\\evil.example", "https:evil.example",
    "/\t/evil.example", " //evil.example", "javascript:alert(1)", "evil.example", "http:///evil.example",
])
def test_language_switch_never_redirects_off_site(client, target):
    """S-A15 open redirect: /lang/<code>?next= only goes to a local path; anything else goes home."""
    response = client.get("/lang/en", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_language_switch_follows_a_local_next(client):
    response = client.get("/lang/en", query_string={"next": "/admin/registrants?q=x"})
    assert response.headers["Location"] == "/admin/registrants?q=x"


@pytest.mark.parametrize("realm, path, home, local_page", [
    ("admin", "/admin/login", "/admin/", "/admin/security/locks"),
    ("portal", "/login", "/me", "/me/password"),
])
@pytest.mark.parametrize("stored, follow", [
    ("https://evil.example/steal", False), ("//evil.example/", False), ("/\\evil.example", False),
    ("LOCAL", True),
])
def test_next_in_session_is_followed_only_when_local(client, make_staff, make_registrant, realm, path, home,
                                                      local_page, stored, follow):
    """After login, session["next"] is followed only when it is a local path of the same realm."""
    email = make_staff("viewer").email if realm == "admin" else make_registrant().email
    client.get(path)
    with client.session_transaction() as sess:
        sess["next"] = local_page if stored == "LOCAL" else stored
    response = login(client, email, STRONG_PASSWORD, realm=realm)
    assert response.status_code == 302
    assert response.headers["Location"] == (local_page if follow else home)


def test_registrant_login_does_not_follow_a_next_into_the_admin_area(client, make_registrant):
    registrant = make_registrant()
    client.get("/login")
    with client.session_transaction() as sess:
        sess["next"] = "/admin/security/locks"
    response = login(client, registrant.email, STRONG_PASSWORD, realm="portal")
    assert response.headers["Location"] == "/me"


# --- health check ---------------------------------------------------------------------------------------

def test_healthz_reports_ok(client):
    """PRODUCT §4 monitoring: /healthz answers 200 JSON when the database answers."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json and response.get_json()["status"] == "ok"


def test_healthz_reports_503_when_the_database_is_unreachable(tmp_path):
    """/healthz: an unreachable MariaDB gives 503 JSON, quickly, without a stack trace."""
    app = create_app({"secret_key": SECRET, "auth_log": str(tmp_path / "auth.log"),
                      "database_url": "mysql+pymysql://root@127.0.0.1:1/x?connect_timeout=1"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.is_json
    body = response.get_json()
    assert body["status"] != "ok"
    assert_no_stack_trace(response.get_data(as_text=True))
    assert "127.0.0.1" not in response.get_data(as_text=True)


# --- output escaping ------------------------------------------------------------------------------------

def test_registrant_names_are_escaped_on_admin_pages(client, make_staff, make_registrant):
    """S-A15 XSS: a name with markup is shown as text in the list and the detail page."""
    registrant = make_registrant(family_name="<script>alert(1)</script>", given_name='"><img src=x>')
    user = make_staff("viewer")
    login(client, user.email, STRONG_PASSWORD)
    for path in ["/admin/registrants", f"/admin/registrants/{registrant.id}"]:
        text = client.get(path).get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path
        assert "<script>alert(1)" not in text and "<img src=x>" not in text, path
