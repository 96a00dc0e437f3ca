"""The English locale: complete, consistent with the Japanese source, compiled, and chosen by the switch.

Japanese is the source language: the msgids are the Japanese UI text. English lives in
app/translations/en/LC_MESSAGES/messages.po; `make translations-update` extracts and merges new
msgids, `make translations` compiles the .mo files the app reads.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "app" / "templates"
EN_PO = ROOT / "app" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
EN_MO = EN_PO.with_suffix(".mo")
UPDATE_HINT = f"run `make translations-update`, then translate the new entries in {EN_PO.relative_to(ROOT)}"

# %(name)d, %(name)s, %s, %%: everything Python's % operator (and Jinja's newstyle gettext) acts on.
PLACEHOLDER_RE = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
JAPANESE_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
JINJA_TAG_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
MARKUP_SPLIT_RE = re.compile(r"[<>\"']")  # leaves text nodes and attribute values as separate pieces
STRING_LITERAL_RE = re.compile(r"""(_\(\s*)?(["'])(.*?)(?<!\\)\2""", re.S)
# Words a template may show untranslated: the language switch names Japanese in Japanese.
UNTRANSLATED_OK = {"日本語"}


def _makefile_extract_args(output: Path) -> list[str]:
    """The `pybabel extract` arguments of `make translations-update`, writing to `output` instead."""
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        words = shlex.split(line.strip())
        if words and words[0].endswith("pybabel") and "extract" in words:
            args = words[words.index("extract") + 1:]
            args[args.index("-o") + 1] = str(output)
            return args
    raise AssertionError("Makefile has no `pybabel extract` line in translations-update")


@pytest.fixture(scope="module")
def source_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """Every message in the source, extracted exactly as `make translations-update` does."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    result = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract",
                             *_makefile_extract_args(pot)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"message extraction failed:\n{result.stderr}"
    with pot.open("rb") as fh:
        return read_po(fh)


@pytest.fixture(scope="module")
def english() -> Catalog:
    assert EN_PO.exists(), f"{EN_PO} is missing: {UPDATE_HINT}"
    with EN_PO.open("rb") as fh:
        return read_po(fh, locale="en")


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER_RE.findall(text))


def test_extraction_finds_templates_python_and_lazy_strings(source_catalog: Catalog) -> None:
    ids = {message.id for message in source_catalog if message.id}
    assert "管理者ログイン" in ids  # a template, {{ _("…") }}
    assert "ログアウトしました。" in ids  # Python, gettext as _
    assert "監査履歴" in ids and "管理画面トップ" in ids  # Python, lazy_gettext as _l
    assert "パスワードは%(n)d文字以上にしてください。" in ids  # _l with a placeholder
    assert "%(page)d / %(pages)d ページ" in ids  # a template with placeholders


def test_every_message_has_an_english_translation(source_catalog: Catalog, english: Catalog) -> None:
    missing = []
    for message in source_catalog:
        if not message.id:
            continue
        translated = english.get(message.id)
        if translated is None or not translated.string or translated.fuzzy:
            missing.append(message.id)
    assert not missing, (f"{len(missing)} message(s) without an English translation (missing, empty or "
                         f"fuzzy); {UPDATE_HINT}:\n" + "\n".join(f"  {msgid}" for msgid in missing))


def test_english_catalog_has_no_stale_entries(source_catalog: Catalog, english: Catalog) -> None:
    in_source = {message.id for message in source_catalog if message.id}
    stale = sorted(str(message.id) for message in english if message.id and message.id not in in_source)
    assert not stale, ("messages.po has entries no longer in the source; run `make translations-update` "
                       "(it marks them obsolete):\n" + "\n".join(f"  {msgid}" for msgid in stale))


def test_placeholders_match_between_japanese_and_english(english: Catalog) -> None:
    mismatched = []
    for message in english:
        if not message.id or not message.string:
            continue
        for msgid, msgstr in zip(message.id if isinstance(message.id, tuple) else (message.id,),
                                 message.string if isinstance(message.string, tuple) else (message.string,),
                                 strict=False):
            expected, actual = _placeholders(msgid), _placeholders(msgstr)
            if expected != actual:
                mismatched.append(f"  {msgid!r}: {expected} -> {msgstr!r}: {actual}")
    babel_errors = [f"  {message.id!r}: {error}" for message, errors in english.check() for error in errors]
    assert not mismatched, "placeholders differ between msgid and msgstr:\n" + "\n".join(mismatched)
    assert not babel_errors, "Babel's catalog checks failed:\n" + "\n".join(babel_errors)


def test_compiled_catalog_is_present_and_current(english: Catalog) -> None:
    assert EN_MO.exists(), f"{EN_MO.relative_to(ROOT)} is missing: run `make translations` (compiles the .po)"
    with EN_MO.open("rb") as fh:
        compiled = {message.id: message.string for message in read_mo(fh) if message.id}
    expected = {message.id: message.string for message in english
                if message.id and message.string and not message.fuzzy}
    assert compiled == expected, (f"{EN_MO.relative_to(ROOT)} is out of date with messages.po: "
                                  "run `make translations`")


def test_templates_have_no_untranslatable_japanese_text() -> None:
    """Japanese in a template must be a msgid: _("…") in an expression, never bare text or a bare literal."""
    bare = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        source = template.read_text(encoding="utf-8")
        name = template.relative_to(TEMPLATES)
        for piece in MARKUP_SPLIT_RE.split(JINJA_TAG_RE.sub(" ", source)):
            if JAPANESE_RE.search(piece) and piece.strip() not in UNTRANSLATED_OK:
                bare.append(f"  {name}: text {piece.strip()!r}")
        for tag in JINJA_TAG_RE.findall(source):
            for wrapped, _quote, literal in STRING_LITERAL_RE.findall(tag):
                if not wrapped and JAPANESE_RE.search(literal) and literal not in UNTRANSLATED_OK:
                    bare.append(f"  {name}: literal {literal!r} in {tag!r}")
    assert not bare, "wrap this template text in {{ _(\"…\") }}:\n" + "\n".join(bare)


def _lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, "page has no <html lang>"
    return match.group(1)


def test_japanese_by_default(client) -> None:
    for path in ("/", "/admin/login"):
        html = client.get(path).get_data(as_text=True)
        assert _lang(html) == "ja", path
        assert "ログイン" in html, path
    assert "管理者ログイン" in client.get("/admin/login").get_data(as_text=True)


def test_language_switch_to_english_and_back(client) -> None:
    response = client.get("/lang/en?next=/admin/login")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/login")

    html = client.get("/admin/login").get_data(as_text=True)
    assert _lang(html) == "en"
    assert "Staff login" in html and "Log in" in html and "Email address" in html
    assert "ログイン" not in html
    assert 'hreflang="ja"' in html  # the switch now offers Japanese

    html = client.get("/").get_data(as_text=True)
    assert _lang(html) == "en" and "Registrant login" in html

    html = client.get("/lang/ja?next=/admin/login", follow_redirects=True).get_data(as_text=True)
    assert _lang(html) == "ja"
    assert "管理者ログイン" in html and "Log in" not in html


def test_unknown_language_keeps_the_current_one(client) -> None:
    html = client.get("/lang/fr?next=/admin/login", follow_redirects=True).get_data(as_text=True)
    assert _lang(html) == "ja"
