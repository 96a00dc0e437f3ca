"""The sweep: send every payload of a class into every discovered parameter as one role, and record what a
user or an auditor would call a failure. Findings are collected, not raised at the first one, so one run
lists every weak spot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import encode_multipart

from app.extensions import db
from app.mail.models import OutboxMessage
from tests.integration.test_web_hardening import STACK_TRACE_MARKERS
from tests.security import discovery
from tests.security.conftest import ROLES, logged_in_client
from tests.security.discovery import Form
from tests.security.payloads import INJECTED_COOKIE, INJECTED_HEADERS, SYSTEM_OUTPUT, UNESCAPED

BASELINE_PASSWORD = "Baseline-Passw0rd-Kyoto-1"  # never anyone's password, so no password change goes through
TYPICAL = {"email": "baseline@example.com", "date": "2027-03-01", "datetime-local": "2027-03-01T10:00",
           "time": "10:00", "month": "2027-03", "number": "3", "tel": "0958000000", "url": "https://example.com/",
           "password": BASELINE_PASSWORD}
# by a word in the field name: later / earlier moments so that "until" comes after "from", "closes" before "starts"
BY_NAME = (("until", "2027-03-31T17:00"), ("end", "2027-03-31T17:00"),
           ("closes", "2027-02-20T17:00"), ("email", TYPICAL["email"]), ("url", TYPICAL["url"]),
           ("kana", "テスト"), ("postal", "8500001"), ("zip", "8500001"), ("capacity", "10"), ("openings", "3"),
           ("count", "3"))
SUBMIT_NAMES = ("submit", "save", "send")  # of several named buttons a browser sends the one clicked
# Views answer these when they refuse; anything else from a refused role is looked at closely.
REDIRECT = {301, 302, 303, 307, 308}


def typical_value(name: str, kind: str) -> str:
    moment = kind in {"date", "datetime-local"}
    for word, value in BY_NAME:
        if word in name and kind in {"text", "textarea", "date", "datetime-local"} and moment == value.startswith("20"):
            return value[:10] if kind == "date" else value
    return TYPICAL.get(kind, "テスト")


def _button(form: Form) -> str | None:
    buttons = [name for name, kind in form.kinds.items() if kind == "button"]
    return next((name for name in buttons if name in SUBMIT_NAMES), buttons[0] if buttons else None)


def baseline(form: Form, token: str) -> dict[str, str]:
    """What a careful user would send: the form's own values, typical ones where it leaves a field empty,
    and of several buttons only the one that saves."""
    data: dict[str, str] = {}
    pressed = _button(form)
    for name, kind in form.kinds.items():
        value = form.fields[name].strip()
        if kind == "file" or (kind in {"checkbox", "radio"} and not value) or (kind == "button" and name != pressed):
            continue
        if not value and kind not in {"hidden", "button", "select"}:
            value = typical_value(name, kind)
        data[name] = value
    if "csrf_token" in data or form.method == "POST":
        data["csrf_token"] = token
    return data


def spread(names: list[str], payloads: tuple[str, ...], offset: int = 0) -> dict[str, str]:
    """One request that still carries every payload of the class: field i gets payload i (round robin).
    An oversized payload goes into one field only (which one moves with `offset`): eleven 100 kB query
    parameters would only measure URL encoding."""
    if max(map(len, payloads)) > 1000:
        return {names[offset % len(names)]: payloads[0]} if names else {}
    return {name: payloads[(i + offset) % len(payloads)] for i, name in enumerate(names)}


def short(payload: str) -> str:
    return repr(payload if len(payload) <= 40 else f"{payload[:20]}…({len(payload)} chars)")


@dataclass
class PageSeen:
    endpoint: str
    url: str
    status: int
    mimetype: str
    headers: list[tuple[str, str]]


@dataclass
class Catalogue:
    """Everything there is to attack, found by crawling as the role that sees the most of each realm."""

    pages: dict[str, list[PageSeen]]  # role -> every GET route the role may open
    forms: list[Form]
    formless_posts: list[tuple[str, str]]  # POST routes no page offered a form for


_catalogues: dict[Any, Catalogue] = {}


def catalogue(app: Flask, world: dict[str, Any]) -> Catalogue:
    key = tuple(sorted(world["ids"].items()))  # the same rows give the same URLs: crawl once per session
    if key not in _catalogues:
        _catalogues[key] = _crawl_all(app, world)
    return _catalogues[key]


def page_urls(app: Flask, world: dict[str, Any], ids: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    return [(endpoint, _url(app, world, endpoint, ids)) for endpoint, _ in discovery.get_pages(app, world["ids"])]


def _url(app: Flask, world: dict[str, Any], endpoint: str, ids: dict[str, Any] | None = None) -> str:
    """The URL with the attacker's own rows, or with `ids` (somebody else's) when given."""
    rule = next(r for r in app.url_map.iter_rules(endpoint))
    values = ids if ids is not None else {**world["ids"], **world["endpoint_ids"].get(endpoint, {})}
    return discovery.url_for_rule(app, rule, values)


def _crawl_all(app: Flask, world: dict[str, Any]) -> Catalogue:
    pages: dict[str, list[PageSeen]] = {}
    forms: dict[Any, Form] = {}
    for role in ROLES:
        client = logged_in_client(app, world, role)
        pages[role] = []
        for endpoint, url in page_urls(app, world):
            if not discovery.allowed(app, role, endpoint) or (
                    endpoint in discovery.EXPENSIVE and sweeper_of(app, endpoint) != role):
                continue
            with client.get(url) as response:
                pages[role].append(PageSeen(endpoint, url, response.status_code, response.mimetype,
                                            list(response.headers.items())))
                if discovery.is_html(response) and response.status_code == 200:
                    for form in discovery.forms_on(app, url, response.get_data(as_text=True)):
                        forms.setdefault(form.key(), form)
    offered = {form.endpoint for form in forms.values() if form.method == "POST"}
    formless = [(endpoint, _url(app, world, endpoint)) for endpoint, _ in discovery.post_routes(app, world["ids"])
                if endpoint not in offered]
    return Catalogue(pages=pages, forms=list(forms.values()), formless_posts=formless)


def sweeper_of(app: Flask, endpoint: str) -> str | None:
    """Each allowed parameter is swept once, by the least privileged role that may use it."""
    return next((role for role in ROLES if discovery.allowed(app, role, endpoint)), None)


@dataclass
class Sweep:
    app: Flask
    client: FlaskClient
    role: str
    secrets_of_others: list[str]
    follow_redirects: bool = True
    findings: list[str] = field(default_factory=list)
    sent: int = 0

    def send(self, method: str, url: str, data: dict[str, str] | None = None, *, multipart: bool = False,
             label: str = "", follow: bool = True) -> Any:
        where = f"{self.role} {method} {url}{f' {label}' if label else ''}"
        try:
            if method == "GET":
                response = self.client.get(url, query_string=data)
            elif multipart:  # encoded in memory: the test client spools big bodies to a file it never closes
                boundary, body = encode_multipart(data or {})
                response = self.client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")
            else:
                response = self.client.post(url, data=data or {})
        except Exception as exc:  # a crash that even the error handler did not catch
            self.findings.append(f"{where}: raised {type(exc).__name__}: {str(exc)[:200]}")
            return None
        self.sent += 1
        with response:
            self.inspect(response, where)
        location = response.headers.get("Location", "")
        if follow and self.follow_redirects and response.status_code in REDIRECT and not urlsplit(location).netloc:
            with self.client.get(location) as landing:  # where the flash message shows
                self.inspect(landing, f"{where} -> {location}")
        return response

    def inspect(self, response: Any, where: str) -> None:
        if response.status_code >= 500:
            self.findings.append(f"{where}: status {response.status_code}")
        for name, value in response.headers.items():
            if name.lower() in INJECTED_HEADERS or "\r" in value or "\n" in value:
                self.findings.append(f"{where}: injected header {name}: {value!r}")
        if any(INJECTED_COOKIE.match(cookie) for cookie in response.headers.getlist("Set-Cookie")):
            self.findings.append(f"{where}: injected Set-Cookie")
        if not (response.mimetype.startswith("text/") or response.is_json):
            return
        text = response.get_data(as_text=True)
        for marker in STACK_TRACE_MARKERS:
            if marker in text:
                self.findings.append(f"{where}: stack trace text {marker!r} in the body")
        if discovery.is_html(response) and (match := UNESCAPED.search(text)):
            self.findings.append(f"{where}: payload reflected unescaped: {excerpt(text, match.start())}")
        if match := SYSTEM_OUTPUT.search(text):
            self.findings.append(f"{where}: system file or command output: {excerpt(text, match.start())}")
        for secret in self.secrets_of_others:
            if secret in text:
                self.findings.append(f"{where}: another user's data {secret!r}: {excerpt(text, text.index(secret))}")

    def still_logged_in(self) -> bool:
        home = {"anonymous": None, "registrant": "/me"}.get(self.role, "/admin/account")
        return home is None or self.client.get(home).status_code == 200

    def report(self) -> str:
        shown = "\n  ".join(self.findings[:25])
        more = f"\n  … and {len(self.findings) - 25} more" if len(self.findings) > 25 else ""
        return f"{len(self.findings)} finding(s) in {self.sent} requests as {self.role}:\n  {shown}{more}"


def excerpt(text: str, at: int) -> str:
    return repr(text[max(0, at - 60):at + 80])


def header_injected_mails(app: Flask) -> list[str]:
    """Queued mails whose header values (recipient, subject) carry a line break, or more than one recipient:
    a Bcc could ride along. "Bcc:" as words inside a one-line subject is harmless text."""
    with app.app_context():
        rows = db.session.execute(sa.select(OutboxMessage.to_address, OutboxMessage.subject)).all()
    return [f"outbox to={to!r} subject={subject!r}" for to, subject in rows
            if any(c in f"{to}{subject}" for c in "\r\n") or any(c in to for c in ", ;")]


# The first-party page-view counter records every portal page shown (allowed GETs between the refused ones).
NOT_COMPARED = {"page_view"}


def table_changes(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> list[str]:
    return [name for name in before if name not in NOT_COMPARED and before[name] != after.get(name)]
