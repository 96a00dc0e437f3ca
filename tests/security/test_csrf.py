"""CSRF (IPA 「安全なウェブサイトの作り方」 1.6) across every POST route of app.url_map: without a token, with a
forged one, or with a real token of another browser, the request gets the 400 page and changes nothing.
(tests/integration/test_web_hardening.py shows the same for the two login forms in detail.)"""

from __future__ import annotations

import pytest

from tests.integration.test_permissions import snapshot
from tests.security import discovery
from tests.security.conftest import logged_in_client, token_for
from tests.security.sweep import baseline, catalogue
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

# Between them these two may use every POST route: the administrator every admin and public one,
# the registrant the portal's own pages.
CSRF_ROLES = ("registrant", "administrator")


def post_routes_with_logout(app, world):
    rules = [r for r in app.url_map.iter_rules() if "POST" in (r.methods or ()) and r.endpoint != "static"]
    return [(r.endpoint, discovery.url_for_rule(app, r, world["ids"])) for r in sorted(rules, key=lambda r: r.rule)]


def test_the_csrf_roles_between_them_reach_every_post_route(app, world):
    unreached = [endpoint for endpoint, _ in post_routes_with_logout(app, world)
                 if not any(discovery.allowed(app, role, endpoint) for role in CSRF_ROLES)]
    assert unreached == []


@pytest.mark.parametrize("role", CSRF_ROLES)
def test_post_without_a_valid_token_is_refused(app, world, role):
    """Logout included: a forged logout must not end the session either."""
    forms = {form.endpoint: form for form in catalogue(app, world).forms if form.method == "POST"}
    client = logged_in_client(app, world, role)
    stranger = app.test_client()
    foreign_token = token_for(stranger, "anonymous")  # valid, but for another browser's session
    before = snapshot(app)
    accepted, checked = [], 0
    for endpoint, url in post_routes_with_logout(app, world):
        if not discovery.allowed(app, role, endpoint):
            continue
        form = forms.get(endpoint)
        data = {k: v for k, v in baseline(form, "").items() if k != "csrf_token"} if form else {}
        for token in (None, "forged-token", foreign_token):
            response = client.post(url, data=data if token is None else {**data, "csrf_token": token})
            if response.status_code != 400:
                accepted.append(f"POST {url} token={'none' if token is None else token[:12]} -> "
                                f"{response.status_code}")
        checked += 1
    assert checked >= 30 if role == "administrator" else checked >= 10
    assert accepted == []
    assert snapshot(app) == before
    home = "/me" if role == "registrant" else "/admin/"
    assert client.get(home).status_code == 200, "a POST without a token ended the session"
