"""Session management (IPA 1.4) and clickjacking (IPA 1.9) over every page the crawl reached, both realms.
The staff realm's rotation and logout are also in tests/integration/test_auth.py; these add the portal realm
and the sweep over every response."""

from __future__ import annotations

import pytest

from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.security.conftest import ROLES, logged_in_client, token_for
from tests.security.sweep import catalogue
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

SESSION_COOKIE = "tsunagu_session"
HOME = {"admin": "/admin/", "portal": "/me"}
LOGOUT = {"admin": "/admin/logout", "portal": "/logout"}
LOGIN = {"admin": "/admin/login", "portal": "/login"}
PLANTED_KEY = "planted_before_login"


def cookie_problems(set_cookie: str, *, over_tls: bool) -> list[str]:
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}
    samesite = [part.strip() for part in set_cookie.split(";") if part.strip().lower().startswith("samesite=")]
    problems = [] if "httponly" in attributes else ["not HttpOnly"]
    if not samesite or samesite[0].lower() not in {"samesite=lax", "samesite=strict"}:
        problems.append("no SameSite=Lax/Strict")
    if over_tls and "secure" not in attributes:
        problems.append("not Secure over TLS")
    return problems


def account_for(world, realm):
    return (world["staff"]["viewer"].email if realm == "admin" else world["registrant"].email), realm


@pytest.mark.parametrize("role", ROLES)
def test_every_html_page_refuses_framing(app, world, role):
    """Clickjacking: every HTML response (pages, redirects' targets, error pages) forbids framing twice over."""
    pages = [page for page in catalogue(app, world).pages[role] if page.mimetype == "text/html"]
    assert len(pages) >= 10
    framable = []
    for page in pages:
        headers = dict(page.headers)
        if headers.get("X-Frame-Options") != "DENY" or "frame-ancestors 'none'" not in headers.get(
                "Content-Security-Policy", ""):
            framable.append(f"{page.url} ({page.status})")
    assert framable == []


@pytest.mark.parametrize("role", ROLES)
def test_every_cookie_the_pages_set_is_httponly_and_samesite(app, world, role):
    cookies = [(page.url, value) for page in catalogue(app, world).pages[role]
               for name, value in page.headers if name == "Set-Cookie"]
    assert cookies, "the crawl saw no cookie at all"
    bad = [(url, value, problems) for url, value in cookies if (problems := cookie_problems(value, over_tls=False))]
    assert bad == []


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": 1, "login_rate_limit": "1000 per minute"}], ids=["tls"])
@pytest.mark.parametrize("realm", ["admin", "portal"])
def test_over_tls_every_cookie_is_secure(app, world, realm, settings_overrides):
    """Behind Apache (trusted_proxies=1), a login and a page over https set only Secure cookies."""
    client = app.test_client()
    tls = {"X-Forwarded-Proto": "https"}
    responses = [client.get(f"/{'admin/' if realm == 'admin' else ''}login", headers=tls)]
    email, _ = account_for(world, realm)
    token = csrf_token(client, "/admin/login" if realm == "admin" else "/login")
    path = "/admin/login" if realm == "admin" else "/login"
    responses.append(client.post(path, data={"csrf_token": token, "email": email, "password": STRONG_PASSWORD},
                                 headers=tls))
    responses.append(client.get("/lang/en?next=/", headers=tls))
    cookies = [value for response in responses for value in response.headers.getlist("Set-Cookie")]
    assert len(cookies) >= 2
    assert [(value, p) for value in cookies if (p := cookie_problems(value, over_tls=True))] == []


@pytest.mark.parametrize("realm", ["admin", "portal"])
def test_session_id_is_rotated_at_login(app, world, realm):
    """No fixation: nothing of the session a visitor had before logging in survives the login. An attacker who
    planted that session (and so knows its CSRF token and contents) gains nothing: the keys they planted are gone,
    the CSRF token they know is refused, and their copy of the pre-login cookie opens nothing."""
    client = app.test_client()
    known_token = csrf_token(client, LOGIN[realm])
    with client.session_transaction() as fixated:
        fixated[PLANTED_KEY] = "set before the login"
        planted = dict(fixated)
    before = client.get_cookie(SESSION_COOKIE).value
    email, _ = account_for(world, realm)
    assert login(client, email, STRONG_PASSWORD, realm=realm).status_code == 302
    with client.session_transaction() as logged_in:
        survivors = {key: value for key, value in logged_in.items() if planted.get(key) == value}
    assert survivors == {}, "pre-login session content survived the login"
    assert client.get_cookie(SESSION_COOKIE).value != before
    forged = client.post(LOGOUT[realm], data={"csrf_token": known_token})
    assert forged.status_code == 400, "the CSRF token of the pre-login session is still accepted"
    assert client.get(HOME[realm]).status_code == 200
    attacker = app.test_client()
    attacker.set_cookie(SESSION_COOKIE, before)
    assert attacker.get(HOME[realm]).status_code == 302


@pytest.mark.parametrize("realm", ["admin", "portal"])
def test_logout_invalidates_the_old_cookie(app, world, realm):
    """A copy of the session cookie taken before logout opens nothing afterwards (the server ends the session)."""
    role = "viewer" if realm == "admin" else "registrant"
    client = logged_in_client(app, world, role)
    assert client.get(HOME[realm]).status_code == 200
    stolen = client.get_cookie(SESSION_COOKIE).value
    client.post(LOGOUT[realm], data={"csrf_token": token_for(client, role)})
    thief = app.test_client()
    thief.set_cookie(SESSION_COOKIE, stolen)
    assert thief.get(HOME[realm]).status_code == 302
