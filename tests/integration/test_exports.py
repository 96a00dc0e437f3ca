"""S-A8 lists: CSV (BOM, CRLF, formula neutralisation) and xlsx of a search, the chosen columns in order,
selected rows only, roles, and each file in the output history with its SHA-256 (SQLite and MariaDB)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from openpyxl import load_workbook

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.extensions import db
from app.outputs.models import OutputRecord
from app.registrants.models import registrant_code
from app.registrants.normalise import registrant_search_text
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

NASTY = ["=HYPERLINK(\"http://example.com\")", "+1+2", "-3+4", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.fixture
def data(app: Flask, make_registrant: Any) -> dict[str, Any]:
    with app.app_context():
        region = Code(kind="region", code="goto", label="五島市", sort_order=1)
        licence = Code(kind="licence", code="elem", label="小学校教諭", sort_order=2)
        licence2 = Code(kind="licence", code="junior", label="中学校教諭", sort_order=3)
        db.session.add_all([region, licence, licence2])
        db.session.commit()
        ids = {"region": region.id, "licence": licence.id, "licence2": licence2.id}
    people = []
    for n, family in enumerate(NASTY):
        registrant = make_registrant(family_name=family, given_name="太郎", family_name_kana="テスト",
                                     given_name_kana=f"タロウ{n}", region_id=ids["region"], birth_date=date(1980, 1, n + 1),
                                     search_text=registrant_search_text(family, "太郎", "テスト", f"タロウ{n}"))
        people.append(registrant.id)
    plain = make_registrant(family_name="島田", given_name="次郎", family_name_kana="シマダ", given_name_kana="ジロウ",
                            search_text=registrant_search_text("島田", "次郎", "シマダ", "ジロウ"))
    with app.app_context():
        for registrant_id in people:
            db.session.execute(registrant_code.insert().values(registrant_id=registrant_id, code_id=ids["licence"]))
        db.session.execute(registrant_code.insert().values(registrant_id=people[0], code_id=ids["licence2"]))
        db.session.commit()
    return {**ids, "people": people, "plain": plain.id}


def _export(client: Any, fmt: str, query: str, selected: list[int] | None = None) -> Any:
    data: dict[str, Any] = {"csrf_token": csrf_token(client, f"/admin/search/?{query}"), "query": query}
    if selected is not None:
        data["scope"] = "selected"
        data["registrant_id"] = [str(i) for i in selected]
    response = client.post(f"/admin/search/export/{fmt}", data=data)
    response.get_data()
    response.close()  # a browser would have read the file to the end; this closes the spooled temp file
    return response


@pytest.fixture
def editor_client(app: Flask, make_staff: Any) -> Any:
    editor = make_staff("editor")
    client = app.test_client()
    login(client, editor.email, STRONG_PASSWORD)
    client.editor = editor  # type: ignore[attr-defined]
    return client


def test_csv_has_bom_crlf_chosen_columns_and_neutralised_formulas(app, data, editor_client):
    query = f"regions={data['region']}&columns=licences,name,id&sort=id"
    response = _export(editor_client, "csv", query)
    assert response.status_code == 200
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert "attachment" in disposition and "tsunagu-registrants-" in disposition and ".csv" in disposition
    assert "太郎" not in disposition
    text = body.decode("utf-8-sig")
    assert "\r\n" in text and text.count("\r\n") == text.count("\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["免許", "氏名", "登録者ID"]
    assert len(rows) == 1 + len(NASTY)
    names = [row[1] for row in rows[1:]]
    for row in rows[1:]:
        assert row[1].startswith("'"), row  # every one of these names would run as a formula
    assert names[0] == "'=HYPERLINK(\"http://example.com\") 太郎"
    assert rows[1][0] == "小学校教諭、中学校教諭" and rows[2][0] == "小学校教諭"
    assert [int(row[2]) for row in rows[1:]] == data["people"]
    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert record.kind == "csv" and record.title == "登録者一覧" and record.row_count == len(NASTY)
        assert record.sha256 == hashlib.sha256(body).hexdigest()
        assert record.staff_id == editor_client.editor.id
        assert record.filename in disposition
        filters = json.loads(record.filter_description)
        assert filters["columns"] == ["licences", "name", "id"] and filters["criteria"] == {"regions": [data["region"]]}
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "output.csv")).one()
        assert event.target == f"output:{record.id}"


def test_selected_rows_only(app, data, editor_client):
    chosen = [data["people"][1], data["plain"]]
    response = _export(editor_client, "csv", "columns=id,name&sort=id", selected=chosen)
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"), newline="")))
    assert [int(row[0]) for row in rows[1:]] == sorted(chosen)
    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert record.row_count == 2 and json.loads(record.filter_description)["selected"] == 2


def test_selected_export_without_selection_or_with_junk_ids_explains(app, data, editor_client):
    response = _export(editor_client, "csv", "columns=id", selected=[])
    assert response.status_code == 302
    assert "出力する行を選択してください" in editor_client.get(response.location).get_data(as_text=True)
    token = csrf_token(editor_client, "/admin/search/")
    response = editor_client.post("/admin/search/export/csv", data={
        "csrf_token": token, "query": "", "scope": "selected", "registrant_id": ["1 OR 1=1"]})
    assert response.status_code == 302
    assert "選択した行の指定が正しくありません" in editor_client.get(response.location).get_data(as_text=True)
    response = _export(editor_client, "csv", "sort=password_hash")
    assert response.status_code == 302
    assert "指定された並び順は使えません" in editor_client.get(response.location).get_data(as_text=True)
    assert db_count(app) == 0


def db_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(OutputRecord)) or 0)


def test_xlsx_opens_with_chosen_headers_and_text_is_never_a_formula(app, data, editor_client):
    query = f"regions={data['region']}&columns=name,region,birth_date,licences&sort=id"
    response = _export(editor_client, "xlsx", query)
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    body = response.get_data()
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert not any("vba" in name.lower() for name in names)  # no macros
    sheet = load_workbook(io.BytesIO(body)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == ["氏名", "居住地域", "生年月日", "免許"]
    assert len(rows) == 1 + len(NASTY)
    assert rows[1][0] == "=HYPERLINK(\"http://example.com\") 太郎"  # stored as text, shown as typed
    assert sheet.cell(row=2, column=1).data_type == "s"
    assert rows[1][1] == "五島市" and rows[1][2].date() == date(1980, 1, 1)
    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert record.kind == "xlsx" and record.row_count == len(NASTY)
        assert record.sha256 == hashlib.sha256(body).hexdigest()
        assert record.filename.endswith(".xlsx")


def test_viewer_cannot_export(app, data, make_staff):
    viewer = make_staff("viewer")
    client = app.test_client()
    login(client, viewer.email, STRONG_PASSWORD)
    token = csrf_token(client, "/admin/search/")
    for fmt in ("csv", "xlsx"):
        assert client.post(f"/admin/search/export/{fmt}", data={"csrf_token": token, "query": ""}).status_code == 403
    assert db_count(app) == 0


def test_export_without_csrf_is_refused(app, data, editor_client):
    response = editor_client.post("/admin/search/export/csv", data={"query": ""})
    assert response.status_code in (400, 302)
    assert db_count(app) == 0
