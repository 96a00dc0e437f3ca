"""What there is to attack, found from the application itself: its routes (app.url_map) and the HTML
forms its pages render to each role. Nothing here is a hand-kept list of URLs or fields."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from app.auth.web import PUBLIC, registrant_required, required_permission
from app.staff.models import ROLE_PERMISSIONS, Role
from tests.integration.test_permissions import url_of

APP_DIR = Path(__file__).resolve().parents[2] / "app"

# Ending the attacker's own session would silently turn the rest of the sweep into an anonymous one;
# these are attacked in test_session.py instead.
SESSION_ENDING = {"admin.logout", "portal.logout"}
# URL arguments that are not row ids: a value that leads somewhere real for each.
NAMED_ARGUMENTS = {"code": "perm-test", "token": "not-a-real-token-0000", "filename": "css/app.css"}
NOT_ATTACKED = {"static"}  # files from disk; the web server serves them in production
# Read no parameter and cost seconds each (a PDF with an embedded Japanese font): fetched once in the crawl,
# refused to the roles without the permission, not swept again.
EXPENSIVE = {"pamphlet_admin.pdf_download"}

_ARGS_READ = re.compile(r"request\.(?:args|values)\.get(?:list)?\(\s*\"([a-z_]+)\"")


def query_parameters_read_by_views() -> list[str]:
    """Query parameters the views read one by one (filter forms are found on the pages themselves)."""
    names = {m.group(1) for path in APP_DIR.rglob("*.py") for m in _ARGS_READ.finditer(path.read_text())}
    return sorted(names)


# --- who may use what ------------------------------------------------------------------------

def _is_registrant_only(view: Any) -> bool:
    marker = registrant_required(lambda: None).__code__
    while view is not None:
        if getattr(view, "__code__", None) is marker:
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def allowed(app: Flask, role: str, endpoint: str) -> bool:
    """Whether `role` (a staff role, "registrant" or "anonymous") may use this endpoint at all."""
    view = app.view_functions[endpoint]
    with app.app_context():
        needed = required_permission(endpoint)
    if needed is not None:  # an admin view: deny by default
        if needed == PUBLIC:
            return True
        return role in {r.value for r in Role} and needed in ROLE_PERMISSIONS[Role(role)]
    if _is_registrant_only(view):
        return role == "registrant"
    return True


def endpoint_of(app: Flask, path: str, method: str) -> str | None:
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(urlsplit(path).path, method=method)
    except HTTPException:
        return None
    return str(endpoint)


# --- routes -------------------------------------------------------------------------------------

def attacked_rules(app: Flask) -> list[Rule]:
    return sorted((r for r in app.url_map.iter_rules()
                   if r.endpoint not in NOT_ATTACKED and r.endpoint not in SESSION_ENDING),
                  key=lambda r: (r.rule, r.endpoint))


def url_for_rule(app: Flask, rule: Rule, ids: dict[str, Any]) -> str:
    return url_of(app, rule, {**NAMED_ARGUMENTS, **ids})


def get_pages(app: Flask, ids: dict[str, Any]) -> list[tuple[str, str]]:
    """(endpoint, url) of every GET route, URL arguments filled with real rows."""
    return [(r.endpoint, url_for_rule(app, r, ids)) for r in attacked_rules(app) if "GET" in (r.methods or ())]


def post_routes(app: Flask, ids: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r.endpoint, url_for_rule(app, r, ids)) for r in attacked_rules(app) if "POST" in (r.methods or ())]


# --- forms ----------------------------------------------------------------------------------------

@dataclass
class Form:
    page: str  # where it was found
    action: str
    method: str
    endpoint: str
    fields: dict[str, str] = field(default_factory=dict)  # name -> the value a browser would send
    kinds: dict[str, str] = field(default_factory=dict)  # name -> input type / select / textarea
    multipart: bool = False

    @property
    def attackable(self) -> list[str]:
        return [name for name, kind in self.kinds.items() if name != "csrf_token" and kind != "file"]

    def key(self) -> tuple[str, str, tuple[str, ...]]:
        return self.method, self.action, tuple(sorted(self.kinds))


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self._textarea: str | None = None
        self._chosen: set[str] = set()  # selects with an explicitly selected option

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": (a.get("method") or "get").upper(),
                          "multipart": "multipart" in a.get("enctype", ""), "fields": {}, "kinds": {}}
            self.forms.append(self._form)
        elif self._form is None or "disabled" in a:
            return
        elif tag == "input" and a.get("name"):
            self._input(a)
        elif tag == "button" and a.get("name") and a["name"] not in self._form["kinds"]:
            self._add(a["name"], "button", a.get("value", ""))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._add(self._select, "select", None)
        elif tag == "option" and self._select:
            self._option(self._select, a)
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._add(self._textarea, "textarea", "")

    def _option(self, select: str, a: dict[str, str]) -> None:
        """A select sends its selected option, else the first one that names something."""
        assert self._form is not None
        value = a.get("value", "")
        if "selected" in a:
            self._form["fields"][select] = value
            self._chosen.add(select)
        elif select not in self._chosen and not self._form["fields"][select]:
            self._form["fields"][select] = value

    def _input(self, a: dict[str, str]) -> None:
        kind = a.get("type", "text").lower()
        if kind in {"submit", "image", "reset"}:
            if kind == "submit" and a["name"] not in self._form["kinds"]:  # type: ignore[index]
                self._add(a["name"], "button", a.get("value", ""))
            return
        if kind in {"checkbox", "radio"}:
            if "checked" in a or a["name"] not in self._form["kinds"]:  # type: ignore[index]
                self._add(a["name"], kind, a.get("value", "on") if "checked" in a or kind == "radio" else "")
            return
        self._add(a["name"], kind, a.get("value", ""))

    def _add(self, name: str, kind: str, value: str | None) -> None:
        assert self._form is not None
        self._form["kinds"][name] = kind
        self._form["fields"][name] = value

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form["fields"][self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms_on(app: Flask, page: str, html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    found = []
    for raw in parser.forms:
        action = raw["action"] or page
        if urlsplit(action).netloc:  # a form posting off-site is not ours to attack
            continue
        endpoint = endpoint_of(app, action, raw["method"])
        if endpoint is None or endpoint in SESSION_ENDING:
            continue
        fields = {name: "" if value is None else value for name, value in raw["fields"].items()}
        found.append(Form(page=page, action=action, method=raw["method"], endpoint=endpoint, fields=fields,
                          kinds=raw["kinds"], multipart=raw["multipart"]))
    return found


def is_html(response: Any) -> bool:
    return response.mimetype == "text/html"
