"""The printable registration pamphlet (N11): staff edit its text, preview and print it with the QR code."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess

import pytest
import sqlalchemy as sa
import zxingcpp
from flask import Flask
from PIL import Image

from app.audit.models import AuditEvent
from app.extensions import db
from app.outputs.models import OutputRecord
from app.pamphlet import pdf, services
from app.pamphlet.models import PamphletText
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

PUBLIC_BASE = "https://tsunagu.example.com"
EDIT = "/admin/pamphlet/edit"
PRINT = "/admin/pamphlet/print"


@pytest.fixture
def settings_overrides():
    return {"public_base_url": PUBLIC_BASE}


def _staff(app: Flask, make_staff, role: str = "editor"):
    client = app.test_client()
    login(client, make_staff(role).email, STRONG_PASSWORD)
    return client


def _form(client, **values) -> dict[str, str]:
    data = {"csrf_token": csrf_token(client, EDIT), "title": "先生の経験を地域の学校へ",
            "lead": "登録は無料です。\r\nいつでも変更できます。",
            "benefits": "求人情報が届きます\r\n\r\n  交流イベントに参加できます  \r\n",
            "closing": "問い合わせ 000-0000-0000", "submit": "1"}
    data.update(values)
    return data


def _decode(png: bytes) -> list[str]:
    with Image.open(io.BytesIO(png)) as image:
        return [result.text for result in zxingcpp.read_barcodes(image.convert("L"))]


def test_the_default_text_is_shown_until_staff_save_one(app, make_staff):
    client = _staff(app, make_staff, "viewer")
    html = client.get("/admin/pamphlet/").get_data(as_text=True)
    assert str(services.DEFAULT_TITLE) in html and "標準の文面を表示しています" in html
    assert "000-0000-0000" in html and "example.com" in html
    assert EDIT not in html  # a viewer sees no edit button
    assert count_rows(app, PamphletText) == 0


def test_editor_saves_a_new_version_which_is_audited_and_shown(app, make_staff):
    client = _staff(app, make_staff)
    response = client.post(EDIT, data=_form(client))
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/pamphlet/")
    html = client.get("/admin/pamphlet/").get_data(as_text=True)
    assert "チラシの文面を保存しました。" in html and "先生の経験を地域の学校へ" in html
    assert "<li>求人情報が届きます</li><li>交流イベントに参加できます</li>" in html  # blank line and spaces dropped
    assert "標準の文面" not in html and "テスト editor" in html  # the history names who saved
    with app.app_context():
        row = db.session.scalar(sa.select(PamphletText))
        assert row.benefits == "求人情報が届きます\n交流イベントに参加できます"
        assert row.lead == "登録は無料です。\nいつでも変更できます。"
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "pamphlet.save"))
        assert event.target == f"pamphlet_text:{row.id}" and json.loads(event.detail) == {"benefits": 2}

    client.post(EDIT, data=_form(client, title="二つめの見出し"))
    assert count_rows(app, PamphletText) == 2  # the earlier text stays as history
    html = client.get("/admin/pamphlet/").get_data(as_text=True)
    assert html.index("二つめの見出し") < html.index("先生の経験を地域の学校へ")


def test_preview_shows_the_sheet_without_saving(app, make_staff):
    client = _staff(app, make_staff)
    response = client.post(EDIT, data=_form(client, submit="", preview="1", title="まだ保存しない見出し"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "プレビュー(まだ保存されていません)" in html
    assert "まだ保存しない見出し" in html and 'class="pamphlet-qr-code"' in html
    assert count_rows(app, PamphletText) == 0


@pytest.mark.parametrize(("values", "message"), [
    ({"benefits": "\n".join(f"メリット{n}" for n in range(11))}, "10項目までにしてください(今は11項目です)"),
    ({"benefits": "短い\n" + "長" * 201}, "2項目めが長すぎます"),
    ({"benefits": " \r\n \r\n"}, "入力してください。"),
    ({"title": ""}, "入力してください。"),
    ({"lead": "あ" * 1001}, "1000"),
    ({"closing": "問い合わせ\x07先"}, "使用できない制御文字が含まれています。"),
])
def test_bad_text_is_refused_with_a_message_and_nothing_saved(app, make_staff, values, message):
    client = _staff(app, make_staff)
    response = client.post(EDIT, data=_form(client, **values))
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert count_rows(app, PamphletText) == 0


def test_viewer_may_print_but_not_edit(app, make_staff):
    client = _staff(app, make_staff, "viewer")
    assert client.get(EDIT).status_code == 403
    assert client.get(PRINT).status_code == 200


def test_print_view_is_an_a4_sheet_recorded_in_the_output_history(app, make_staff):
    client = _staff(app, make_staff)
    client.post(EDIT, data=_form(client))
    html = client.get(PRINT).get_data(as_text=True)
    assert '<h1 id="pamphlet-title" class="pamphlet-title">先生の経験を地域の学校へ</h1>' in html
    assert "/static/css/pamphlet.css" in html and "data-print hidden" in html and "/static/js/print.js" in html
    assert f"{PUBLIC_BASE}/app" in html  # self-registration is off: the QR leads to the app page
    with app.app_context():
        record = db.session.scalar(sa.select(OutputRecord))
        text_id = db.session.scalar(sa.select(PamphletText.id))
    assert record.kind == "report" and record.title == "登録案内チラシ" and record.sha256
    assert json.loads(record.filter_description) == {"pamphlet_text": text_id, "url": f"{PUBLIC_BASE}/app"}
    # the index page (a preview) is not an output
    client.get("/admin/pamphlet/")
    assert count_rows(app, OutputRecord) == 1


@pytest.mark.parametrize(("settings_overrides", "path"), [
    ({"public_base_url": PUBLIC_BASE, "self_registration": "open"}, "/register"),
    ({"public_base_url": PUBLIC_BASE, "self_registration": "approval"}, "/register"),
    ({"public_base_url": PUBLIC_BASE, "self_registration": "off"}, "/app"),
])
def test_the_qr_code_reads_back_as_the_registration_url(app, make_staff, path):
    client = _staff(app, make_staff, "viewer")
    html = client.get(PRINT).get_data(as_text=True)
    url = PUBLIC_BASE + path
    assert f'<p class="pamphlet-url">{url}</p>' in html
    svg = re.search(r"<svg .*?</svg>", html, re.S).group(0)
    assert svg == str(services.qr_svg(url, f"登録ページのQRコード({url})"))
    assert _decode(services.qr_png(url)) == [url]


def test_the_qr_code_uses_error_correction_m_and_survives_a_smudge():
    url = PUBLIC_BASE + "/register"
    assert services._qr(url).error == "M"
    with Image.open(io.BytesIO(services.qr_png(url, scale=8))) as image:
        smudged = image.convert("L")
    smudged.paste(0, (100, 100, 130, 130))  # a blot of ink over part of the data
    assert [r.text for r in zxingcpp.read_barcodes(smudged)] == [url]


# --- the PDF (fpdf2 with a Japanese font from the appliance) ------------------------------------------

def _pdf_required():
    """`make test` installs fpdf2 (a dependency), fonts-noto-cjk and poppler-utils: their absence is a failure."""
    assert pdf.available(), "fpdf2 or a Japanese font (fonts-noto-cjk) is missing"
    assert shutil.which("pdftoppm") and shutil.which("pdftotext"), "poppler-utils is missing"


def test_pdf_download_is_one_a4_page_with_a_readable_qr_code_and_is_recorded(app, make_staff, tmp_path):
    _pdf_required()
    client = _staff(app, make_staff)
    client.post(EDIT, data=_form(client, title="先生の経験を地域の学校へ(PDF)"))
    assert "/admin/pamphlet/pamphlet.pdf" in client.get("/admin/pamphlet/").get_data(as_text=True)
    response = client.get("/admin/pamphlet/pamphlet.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    filename = re.search(r'filename="?([^";]+)', response.headers["Content-Disposition"]).group(1)
    assert re.fullmatch(r"tsunagu-pamphlet-\d{8}\.pdf", filename)
    target = tmp_path / filename
    target.write_bytes(response.data)
    response.close()

    info = subprocess.run(["pdfinfo", str(target)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\n", info) and re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info)
    text = subprocess.run(["pdftotext", "-layout", str(target), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "先生の経験を地域の学校へ(PDF)" in text and "求人情報が届きます" in text
    assert f"{PUBLIC_BASE}/app" in text
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(target), str(tmp_path / "page")], check=True)
    assert _decode((tmp_path / "page.png").read_bytes()) == [f"{PUBLIC_BASE}/app"]

    with app.app_context():
        record = db.session.scalar(sa.select(OutputRecord))
    assert record.kind == "report" and record.title == "登録案内チラシ(PDF)" and record.filename == filename
    assert record.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()


def test_without_a_japanese_font_the_pdf_is_not_offered(app, make_staff, monkeypatch):
    monkeypatch.setattr(pdf, "available", lambda: False)  # a machine without fpdf2 or a Japanese font
    client = _staff(app, make_staff, "viewer")
    assert "/admin/pamphlet/pamphlet.pdf" not in client.get("/admin/pamphlet/").get_data(as_text=True)
    response = client.get("/admin/pamphlet/pamphlet.pdf", follow_redirects=True)
    assert "日本語フォントがありません" in response.get_data(as_text=True)
    assert count_rows(app, OutputRecord) == 0


def test_japanese_line_breaking_keeps_punctuation_off_the_line_start():
    fits = lambda line: len(line) <= 5  # noqa: E731
    assert pdf.wrap("あいうえお。かき", fits) == ["あいうえ", "お。かき"]
    assert pdf.wrap("あいう「えお", fits) == ["あいう「え", "お"]
    assert pdf.wrap("あいうえ「おか", fits) == ["あいうえ", "「おか"]
    assert pdf.wrap("一行目\n二行目", fits) == ["一行目", "二行目"]
    assert all(fits(line) for line in pdf.wrap("、" * 12, fits))  # nothing to carry: still within the width


def test_demo_text_is_loaded_once(app):
    import random

    from app.pamphlet import demo

    with app.app_context():
        demo.load(db.session, random.Random(1))
        demo.load(db.session, random.Random(2))
        db.session.commit()
        current = services.current(db.session)
    assert count_rows(app, PamphletText) == 1
    assert current.text_id and current.title == str(services.DEFAULT_TITLE) and "example.com" in current.closing
