"""The attack sweep (IPA 「安全なウェブサイトの作り方」 categories; Nagasaki spec §6): every route and form the
app offers, every parameter, each payload class, as each role. docs/security-testing.md explains the ids.

Per request: no 500 and no stack trace; no payload reflected unescaped; no system file or command output;
no other user's data; no injected header. Per role: the refused requests leave the database as it was,
and no queued mail carries an injected header.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from tests.integration.test_permissions import snapshot
from tests.security import discovery
from tests.security.conftest import ROLES, logged_in_client, token_for
from tests.security.payloads import CLASSES, OTHER_USERS_IDS, PAYLOADS
from tests.security.sweep import (
    Sweep,
    _url,
    baseline,
    catalogue,
    header_injected_mails,
    short,
    spread,
    sweeper_of,
    table_changes,
)
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

# POST routes no page offered a form for (the state of the seeded rows hides their button): common names
GUESSED_FIELDS = ("id", "name", "code", "stage", "status", "email", "token", "ids")


def attack_refused(sweep: Sweep, app: Flask, world: dict[str, Any], payloads: tuple[str, ...], token: str) -> None:
    """Everything the role may not use, once, with the class's payloads spread over every field: the request
    is refused before any field is read, and the database stays as it was (checked by the caller)."""
    found = catalogue(app, world)
    for form in found.forms:
        if not discovery.allowed(app, sweep.role, form.endpoint):
            sweep.send(form.method, form.action, {**baseline(form, token), **spread(form.attackable, payloads)},
                       multipart=form.multipart, follow=False)
    for endpoint, url in found.formless_posts:
        if not discovery.allowed(app, sweep.role, endpoint):
            sweep.send("POST", url, {"csrf_token": token, **spread(list(GUESSED_FIELDS), payloads)}, follow=False)
    params = discovery.query_parameters_read_by_views()
    for i, page in enumerate(found.pages["administrator"] + found.pages["registrant"]):
        if not discovery.allowed(app, sweep.role, page.endpoint):
            sweep.send("GET", page.url, spread(params, payloads, i), follow=False)


def attack_allowed(sweep: Sweep, app: Flask, world: dict[str, Any], payloads: tuple[str, ...], token: str) -> None:
    """What the role may use (and no less privileged role already swept): each field on its own with the
    others valid, then every field at once with each payload; the query parameters of every page."""
    found = catalogue(app, world)
    for form in found.forms:
        if sweeper_of(app, form.endpoint) != sweep.role:
            continue
        valid = baseline(form, token)
        for i, name in enumerate(form.attackable):
            payload = payloads[i % len(payloads)]
            sweep.send(form.method, form.action, {**valid, name: payload}, multipart=form.multipart,
                       label=f"[{name}={short(payload)}]")
        for payload in payloads:
            sweep.send(form.method, form.action, {**valid, **dict.fromkeys(form.attackable, payload)},
                       multipart=form.multipart, label=f"[all fields={short(payload)}]")
        if not sweep.still_logged_in():
            sweep.findings.append(f"sweep lost its {sweep.role} session at {form.action}; the rest would be "
                                  "anonymous (add the endpoint to discovery.SESSION_ENDING)")
            return
    for endpoint, url in found.formless_posts:
        if sweeper_of(app, endpoint) == sweep.role:
            for payload in payloads:
                sweep.send("POST", url, {"csrf_token": token, **dict.fromkeys(GUESSED_FIELDS, payload)},
                           label=f"[guessed fields={short(payload)}]")
    params = discovery.query_parameters_read_by_views()
    for i, page in enumerate(found.pages[sweep.role]):
        if sweeper_of(app, page.endpoint) == sweep.role and page.endpoint not in discovery.EXPENSIVE:
            sweep.send("GET", page.url, spread(params, payloads, i), label=f"[query {short(payloads[i % len(payloads)])}…]")


def attack_other_users_ids(sweep: Sweep, app: Flask, world: dict[str, Any], token: str) -> None:
    """Every URL with an id, pointed at rows of somebody else; every id-valued form field likewise."""
    found = catalogue(app, world)
    forms_by_endpoint = {form.endpoint: form for form in found.forms}
    for rule in discovery.attacked_rules(app):
        if not rule.arguments - set(discovery.NAMED_ARGUMENTS):
            continue
        url = _url(app, world, rule.endpoint, world["victim_ids"])
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            form = forms_by_endpoint.get(rule.endpoint)
            data = baseline(form, token) if form and method == "POST" else {"csrf_token": token}
            sweep.send(method, url, data if method == "POST" else None)
    victim_values = sorted({str(v) for v in world["victim_ids"].values()})
    for form in found.forms:
        if not discovery.allowed(app, sweep.role, form.endpoint):
            continue
        valid = baseline(form, token)
        for name in form.attackable:
            if valid.get(name, "").isdigit():
                for value in victim_values:
                    sweep.send(form.method, form.action, {**valid, name: value}, multipart=form.multipart,
                               label=f"[{name}={value}]")


def stored_payloads_stay_escaped(sweep: Sweep, app: Flask, world: dict[str, Any]) -> None:
    """Whatever the sweep managed to store is shown escaped: every page again as the role, and the admin
    pages as an administrator (where a registrant's input is read by staff)."""
    for page in catalogue(app, world).pages[sweep.role]:
        if page.mimetype == "text/html":
            sweep.send("GET", page.url, label="(stored)")
    if sweep.role != "administrator":
        reader = Sweep(app, logged_in_client(app, world, "administrator"), "administrator (reading)", [])
        for page in catalogue(app, world).pages["administrator"]:
            if page.url.startswith("/admin") and page.mimetype == "text/html":
                reader.send("GET", page.url, label="(stored)")
        sweep.findings += reader.findings
        sweep.sent += reader.sent


def secrets_for(world: dict[str, Any], role: str) -> list[str]:
    """Staff may read every registrant by design; another staff member's private search is nobody's business."""
    return world["secrets_of_others"] if role in {"anonymous", "registrant"} else world["secrets_of_others"][-1:]


def run_attack(app: Flask, world: dict[str, Any], payload_class: str, role: str) -> Sweep:
    catalogue(app, world)  # crawling logs in every role; that is not part of what is measured
    client = logged_in_client(app, world, role)
    token = token_for(client, role)
    # a 100 kB value in a redirect's query string is re-encoded character by character (seconds per request)
    # and no web server would pass such a URL on; the response to the POST itself is checked all the same
    sweep = Sweep(app, client, role, secrets_for(world, role), follow_redirects=payload_class != "oversized")
    before = snapshot(app)
    if payload_class == OTHER_USERS_IDS:
        victim_before = victim_state(app, world)
        attack_other_users_ids(sweep, app, world, token)
        changed = table_changes(before, snapshot(app)) if role == "anonymous" else []
        if victim_state(app, world) != victim_before:
            changed.append("the victim's rows")
    else:
        attack_refused(sweep, app, world, PAYLOADS[payload_class], token)
        after_refused = snapshot(app)
        changed = table_changes(before, after_refused)
        attack_allowed(sweep, app, world, PAYLOADS[payload_class], token)
        if snapshot(app) != after_refused:  # something was stored: it must show harmlessly wherever it shows
            stored_payloads_stay_escaped(sweep, app, world)
    if changed:
        sweep.findings.append(f"refused requests changed tables {changed}")
    sweep.findings += header_injected_mails(app)
    return sweep


def victim_state(app: Flask, world: dict[str, Any]) -> list[Any]:
    """The rows only their owner may change: the victim registrant, their inbox, the private search."""
    from app.inbox.models import MessageRecipient
    from app.registrants.models import Registrant
    from app.searches.models import SavedSearch

    victim_id, search_id = world["victim_ids"]["registrant_id"], world["victim_ids"]["saved_search_id"]
    with app.app_context():
        db.session.expire_all()
        return [db.session.execute(sa.select(Registrant.__table__).where(Registrant.id == victim_id)).all(),
                db.session.execute(sa.select(MessageRecipient.__table__)
                                   .where(MessageRecipient.registrant_id == victim_id)).all(),
                db.session.execute(sa.select(SavedSearch.__table__).where(SavedSearch.id == search_id)).all()]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("payload_class", CLASSES)
def test_attack(app, world, payload_class, role):
    """Every parameter of every route and form, attacked with one payload class as one role."""
    sweep = run_attack(app, world, payload_class, role)
    assert sweep.sent > 20, f"the sweep sent only {sweep.sent} requests: discovery found nothing to attack"
    assert not sweep.findings, sweep.report()


@pytest.mark.mariadb
@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
@pytest.mark.parametrize("role", ROLES)
def test_attack_mariadb(app, world, role, database_url):
    """SQL injection once more on MariaDB, the production database (its quoting and errors differ)."""
    sweep = run_attack(app, world, "sqli", role)
    assert sweep.sent > 20
    assert not sweep.findings, sweep.report()
