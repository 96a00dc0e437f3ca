"""Helpers for the browser tests: log in through the real forms, screenshot and axe-check a page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
BLOCKING_IMPACTS = {"serious", "critical"}
GENERIC_LOGIN_ERROR = "メールアドレスまたはパスワードが正しくありません。"
BREADCRUMBS = 'nav[aria-label="パンくずリスト"]'

_axe = Axe()

# How far the document extends below the footer: a hidden element that still takes room shows up here.
BELOW_FOOTER_SCRIPT = """() => {
  const footer = document.querySelector("body > footer");
  if (!footer) { return 0; }
  const bottom = footer.getBoundingClientRect().bottom + window.scrollY;
  return Math.round(document.documentElement.scrollHeight - Math.max(bottom, window.innerHeight));
}"""


def check_page(page: Any, name: str, width: int) -> Path:
    """Save a full-page screenshot to build/screenshots/<name>-<width>.png and run axe on the page.

    Fails on any violation of impact "serious" or "critical", listing rule, help and nodes.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name}-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    below = page.evaluate(BELOW_FOOTER_SCRIPT)
    assert below <= 1, f"{page.url} at {width}px: the page runs {below}px past its footer (hidden content?)"
    results = _axe.run(page)
    blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        lines = [f"axe found {len(blocking)} serious/critical violation(s) on {page.url} at {width}px:"]
        for violation in blocking:
            lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
            for node in violation["nodes"]:
                summary = " ".join(node.get("failureSummary", "").split())
                lines.append(f"    {node['target']} {node.get('html', '')[:160]}\n      {summary}")
        raise AssertionError("\n".join(lines))
    return shot


OVERFLOW_SCRIPT = """() => {
  const limit = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= limit) { return []; }
  const clipped = (el) => {  // inside a sideways scroller, and not positioned out of it
    if (["absolute", "fixed"].includes(getComputedStyle(el).position)) { return false; }
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") { return true; }
    }
    return false;
  };
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.right > limit + 0.5 && box.width > 0 && !clipped(el)) {
      const cls = typeof el.className === "string" && el.className.trim()
        ? "." + el.className.trim().replace(/ +/g, ".") : "";
      out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + cls + " right=" + Math.round(box.right));
    }
  }
  return out.length ? out.slice(0, 10) : ["scrollWidth=" + document.documentElement.scrollWidth];
}"""


def horizontal_overflow(page: Any) -> list[str]:
    """Elements that stick out to the right of the viewport (the page would scroll sideways)."""
    return list(page.evaluate(OVERFLOW_SCRIPT))


def submit_login(page: Any, base_url: str, path: str, email: str, password: str) -> None:
    page.goto(base_url + path)
    page.locator("main input[name=email]").fill(email)
    page.locator("main input[name=password]").fill(password)
    with page.expect_navigation():
        page.locator("main form").get_by_role("button", name="ログイン").click()


def staff_login(page: Any, base_url: str, email: str, password: str) -> None:
    """Log a staff user in through /admin/login and check it worked."""
    submit_login(page, base_url, "/admin/login", email, password)
    assert page.url.rstrip("/") == base_url + "/admin", f"login as {email} ended on {page.url}"


def login_as(page: Any, server: Any, email: str) -> None:
    """Log a demo staff user in with the password load_demo generated for it."""
    staff_login(page, server.url, email, server.login_for(email).password)


def registrant_login(page: Any, base_url: str, email: str, password: str) -> None:
    submit_login(page, base_url, "/login", email, password)
    assert "/login" not in page.url, f"registrant login ended on {page.url}"
