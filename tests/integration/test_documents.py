"""S-A8 application form (採用志願書): the default template, filling by defined names, template uploads, roles."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from openpyxl import Workbook, load_workbook
from openpyxl.workbook.defined_name import DefinedName
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.core.jpdate import format_wareki
from app.documents import fields
from app.documents.default_template import DATA_FILE, build_bytes
from app.documents.models import FormTemplate
from app.documents.services import safe_filename
from app.extensions import db
from app.outputs.models import OutputRecord
from app.registrants.models import Registrant
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

TEMPLATES = "/admin/documents/templates"


# --- pure: era dates and the shipped template -----------------------------------------------------------------

@pytest.mark.parametrize(("day", "expected"), [
    (date(1985, 4, 2), "昭和60年4月2日"), (date(2019, 5, 1), "令和元年5月1日"), (date(2019, 4, 30), "平成31年4月30日"),
    (date(1989, 1, 7), "昭和64年1月7日"), (date(1989, 1, 8), "平成元年1月8日"), (date(2026, 11, 21), "令和8年11月21日"),
])
def test_format_wareki(day, expected):
    assert format_wareki(day) == expected


def test_shipped_default_template_is_what_the_script_builds():
    """`python -m app.documents.default_template` is the source of app/documents/data/application-form.xlsx."""
    assert DATA_FILE.read_bytes() == build_bytes()


def test_default_template_defines_every_name_on_one_a4_page():
    wb = load_workbook(DATA_FILE)
    assert set(wb.defined_names) == set(fields.ALL)
    ws = wb.worksheets[0]
    assert int(ws.page_setup.paperSize) == 9 and ws.page_setup.orientation == "portrait"  # 9 = A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 1
    assert ws.print_area
    names = zipfile.ZipFile(DATA_FILE).namelist()
    assert not [n for n in names if "vba" in n.lower() or "externalLink" in n]


def test_uploaded_file_names_keep_only_the_base_name():
    assert safe_filename(r"C:\Users\kyoiku\Desktop\講師様式.xlsx") == "講師様式.xlsx"
    assert safe_filename("../../etc/様式\x07.xlsx") == "様式.xlsx"
    assert safe_filename("") == "template.xlsx"


# --- helpers -----------------------------------------------------------------------------------------------------

def _codes(app: Flask) -> list[int]:
    with app.app_context():
        rows = [Code(kind="licence", code="jh_1", label="中学校教諭一種", sort_order=1),
                Code(kind="licence", code="hs_1", label="高等学校教諭一種", sort_order=2),
                Code(kind="job_type", code="ft", label="常勤講師", sort_order=1),
                Code(kind="subject", code="ja", label="国語", sort_order=1),
                Code(kind="region", code="goto", label="五島", sort_order=1)]
        db.session.add_all(rows)
        db.session.commit()
        return [r.id for r in rows]


def _person(app: Flask, make_registrant: Any, **fields_: Any) -> Registrant:
    ids = _codes(app)
    registrant = make_registrant(birth_date=date(1985, 4, 2), available_from=date(2019, 5, 1), phone="000-1111-2222",
                                 postal_code="853-0000", address="長崎県五島市福江町1-1", region_id=ids[4],
                                 career_note="1990年 教諭\n2024年 退職", left_year=2024,
                                 registered_at=datetime(2026, 4, 1, 0, 0), **fields_)
    with app.app_context():
        person = db.session.get(Registrant, registrant.id)
        person.codes = [db.session.get(Code, i) for i in ids[:4]]
        db.session.commit()
    return registrant


def _logged_in(app: Flask, make_staff: Any, role: str) -> Any:
    client = app.test_client()
    login(client, make_staff(role).email, STRONG_PASSWORD)
    return client


def _named(data: bytes) -> dict[str, Any]:
    """Value of every defined name's top-left cell in a workbook."""
    wb = load_workbook(io.BytesIO(data))
    values = {}
    for name, definition in wb.defined_names.items():
        sheet, ref = next(iter(definition.destinations))
        values[name] = wb[sheet][ref.replace("$", "").split(":")[0]].value
    return values


def _upload(client: Any, content: bytes, filename: str = "様式.xlsx") -> Any:
    """A multipart POST built in memory (the test client would spool a large body to a file it never closes)."""
    token = csrf_token(client, TEMPLATES)
    boundary, body = encode_multipart({"csrf_token": token, "file": FileStorage(io.BytesIO(content), filename=filename)})
    return client.post(TEMPLATES, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def _with_entries(base: bytes, extra: dict[str, bytes], content_types: tuple[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if content_types and item.filename == "[Content_Types].xml":
                data = data.replace(content_types[0].encode(), content_types[1].encode())
            dst.writestr(item.filename, data)
        for name, data in extra.items():
            dst.writestr(name, data)
    return out.getvalue()


def _workbook_bytes(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _custom_template() -> bytes:
    """A template of its own: another title, every name in single cells on a sheet called 志願書, one merged."""
    wb = Workbook()
    ws = wb.active
    ws.title = "志願書"
    ws["A1"] = "○○県 講師登録 志願書"
    for row, name in enumerate(fields.ALL, start=3):
        ws.cell(row=row, column=1, value=str(fields.ALL[name]))
        cells = f"$C${row}:$E${row}" if name == "applicant_name" else f"$C${row}"
        if name == "applicant_name":
            ws.merge_cells(f"C{row}:E{row}")
        wb.defined_names[name] = DefinedName(name, attr_text=f"'志願書'!{cells}")
    return _workbook_bytes(wb)


# --- filling the form --------------------------------------------------------------------------------------------

def test_editor_downloads_the_filled_form_and_it_is_in_the_output_history(app, make_staff, make_registrant):
    registrant = _person(app, make_registrant)
    client = _logged_in(app, make_staff, "editor")
    response = client.get(f"/admin/documents/application/{registrant.id}.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = response.headers["Content-Disposition"]
    assert re.search(rf"tsunagu-application-{registrant.id}-\d{{8}}\.xlsx", disposition)
    assert "山田" not in disposition and "%" not in disposition  # no personal name, even encoded
    data = response.get_data()
    assert not [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if "vba" in n.lower()]

    values = _named(data)
    assert values["applicant_name"] == "山田 花子" and values["applicant_kana"] == "ヤマダ ハナコ"
    assert values["birth_date"] == "昭和60年4月2日"
    assert values["available_from"] == "令和元年5月1日"
    assert values["licences"] == "中学校教諭一種、高等学校教諭一種"
    assert values["job_types"] == "常勤講師" and values["subjects"] == "国語" and values["region"] == "五島"
    assert values["postal_code"] == "〒853-0000" and values["address"] == "長崎県五島市福江町1-1"
    assert values["career"] == "1990年 教諭\n2024年 退職" and values["left_year"] == "令和6年度"
    assert isinstance(values["age"], int) and 40 <= values["age"] <= 42
    assert values["form_date"].startswith("令和")
    assert f"登録番号 {registrant.id}" in values["remarks"] and "令和8年4月1日" in values["remarks"]

    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert (record.kind, record.title, record.row_count) == ("form", "採用志願書", 1)
        assert record.sha256 == hashlib.sha256(data).hexdigest()
        assert json.loads(record.filter_description)["registrant_id"] == registrant.id
        assert "山田" not in record.filter_description
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "output.form")).one()
        assert event.actor_id is not None and "山田" not in event.detail and "example.com" not in event.detail


def test_western_dates_on_request(app, make_staff, make_registrant):
    registrant = _person(app, make_registrant)
    client = _logged_in(app, make_staff, "editor")
    values = _named(client.get(f"/admin/documents/application/{registrant.id}.xlsx?era=0").get_data())
    assert values["birth_date"] == "1985年4月2日" and values["available_from"] == "2019年5月1日"
    assert values["left_year"] == "2024年度"


def test_text_that_looks_like_a_formula_stays_text(app, make_staff, make_registrant):
    registrant = make_registrant(address='=HYPERLINK("http://example.com","x")', career_note="@SUM(1)")
    client = _logged_in(app, make_staff, "editor")
    wb = load_workbook(io.BytesIO(client.get(f"/admin/documents/application/{registrant.id}.xlsx").get_data()))
    ws = wb.worksheets[0]
    address = ws["B10"]
    assert address.value == '=HYPERLINK("http://example.com","x")' and address.data_type == "s"


def test_the_documents_page_sends_an_editor_to_the_form(app, make_staff, make_registrant):
    registrant = make_registrant()
    client = _logged_in(app, make_staff, "editor")
    page = client.get("/admin/documents/").get_data(as_text=True)
    assert "採用志願書をダウンロード" in page
    response = client.get(f"/admin/documents/application?registrant_id={registrant.id}&era=0")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/documents/application/{registrant.id}.xlsx?era=0")
    missing = client.get("/admin/documents/application?registrant_id=999999&era=1")
    assert missing.status_code == 400 and "この登録者IDの登録者はいません。" in missing.get_data(as_text=True)
    tampered = client.get("/admin/documents/application?registrant_id=1%3BDROP&era=1")
    assert tampered.status_code == 400 and "登録者ID" in tampered.get_data(as_text=True)
    assert client.get("/admin/documents/application/999999.xlsx").status_code == 404
    assert count_rows(app, OutputRecord) == 0


def test_viewer_gets_403_on_form_and_template_pages(app, make_staff, make_registrant):
    registrant = make_registrant()
    viewer = _logged_in(app, make_staff, "viewer")
    assert viewer.get(f"/admin/documents/application/{registrant.id}.xlsx").status_code == 403
    assert viewer.get(TEMPLATES).status_code == 403
    token = csrf_token(viewer, "/admin/documents/")
    response = viewer.post(TEMPLATES, data={"csrf_token": token, "file": (io.BytesIO(build_bytes()), "a.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 403
    editor = _logged_in(app, make_staff, "editor")
    assert editor.get(TEMPLATES).status_code == 403  # the template changes every form: administrators only
    assert count_rows(app, FormTemplate) == 0 and count_rows(app, OutputRecord) == 0


# --- template uploads ------------------------------------------------------------------------------------------

def _without_names() -> bytes:
    wb = load_workbook(io.BytesIO(build_bytes()))
    for name in ("applicant_name", "birth_date"):
        del wb.defined_names[name]
    return _workbook_bytes(wb)


REFUSED = {
    "not a zip": (b"%PDF-1.4 not a workbook", "ZIP形式として読めません"),
    "zip, not xlsx": (None, "ブックの構成が見つかりません"),
    "xlsm with VBA": (None, "マクロ(VBA)を含むファイルは使えません"),
    "external link": (None, "他のブックへのリンク"),
    "names missing": (None, "必要な名前の定義がありません: applicant_name(氏名)、birth_date(生年月日)"),
    "too large": (b"PK" + b"\0" * (5 * 1024 * 1024), "ファイルが大きすぎます"),
}


def _refused_content(case: str) -> bytes:
    base = build_bytes()
    if case == "zip, not xlsx":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("readme.txt", "hello")
        return out.getvalue()
    if case == "xlsm with VBA":
        return _with_entries(base, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0 fake vba"},
                             ("spreadsheetml.sheet.main+xml", "ms-excel.sheet.macroEnabled.main+xml"))
    if case == "external link":
        return _with_entries(base, {"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    if case == "names missing":
        return _without_names()
    return REFUSED[case][0]  # type: ignore[return-value]


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_templates_are_refused_with_the_reason_and_nothing_is_stored(app, make_staff, case):
    client = _logged_in(app, make_staff, "administrator")
    response = _upload(client, _refused_content(case), "様式.xlsm" if "xlsm" in case else "様式.xlsx")
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page[:500]
    assert REFUSED[case][1] in page
    assert "テンプレートは登録していません。" in page
    assert count_rows(app, FormTemplate) == 0


def test_a_custom_template_is_used_for_the_next_form_and_older_ones_can_come_back(app, make_staff, make_registrant):
    registrant = _person(app, make_registrant)
    admin = _logged_in(app, make_staff, "administrator")
    custom = _custom_template()
    response = _upload(admin, custom, "講師様式.xlsx")
    assert response.status_code == 302
    assert "講師様式.xlsx" in admin.get(TEMPLATES).get_data(as_text=True)

    form = admin.get(f"/admin/documents/application/{registrant.id}.xlsx").get_data()
    wb = load_workbook(io.BytesIO(form))
    assert wb.sheetnames == ["志願書"] and wb["志願書"]["A1"].value == "○○県 講師登録 志願書"
    assert _named(form)["applicant_name"] == "山田 花子" and _named(form)["birth_date"] == "昭和60年4月2日"

    with app.app_context():
        first = db.session.scalars(sa.select(FormTemplate)).one()
        assert first.is_active and first.sha256 == hashlib.sha256(custom).hexdigest()
        first_id = first.id
        assert db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "document.template_upload")).one().target == f"form_template:{first_id}"

    assert _upload(admin, build_bytes(), "既定の写し.xlsx").status_code == 302
    with app.app_context():
        active = db.session.scalars(sa.select(FormTemplate).where(FormTemplate.is_active)).all()
        assert [t.filename for t in active] == ["既定の写し.xlsx"]
    form = admin.get(f"/admin/documents/application/{registrant.id}.xlsx").get_data()
    assert load_workbook(io.BytesIO(form)).sheetnames == ["採用志願書"]

    token = csrf_token(admin, TEMPLATES)
    assert admin.post(f"{TEMPLATES}/{first_id}/activate", data={"csrf_token": token}).status_code == 302
    form = admin.get(f"/admin/documents/application/{registrant.id}.xlsx").get_data()
    assert load_workbook(io.BytesIO(form)).sheetnames == ["志願書"]
    assert admin.get(f"{TEMPLATES}/{first_id}.xlsx").get_data() == custom

    token = csrf_token(admin, TEMPLATES)
    assert admin.post(f"{TEMPLATES}/default", data={"csrf_token": token}).status_code == 302
    form = admin.get(f"/admin/documents/application/{registrant.id}.xlsx").get_data()
    assert load_workbook(io.BytesIO(form)).sheetnames == ["採用志願書"]
    assert admin.get(f"{TEMPLATES}/default.xlsx").get_data() == DATA_FILE.read_bytes()
    assert count_rows(app, FormTemplate) == 2


def test_a_template_with_pictures_is_accepted_with_a_warning(app, make_staff):
    admin = _logged_in(app, make_staff, "administrator")
    with_picture = _with_entries(build_bytes(), {"xl/media/image1.png": b"\x89PNG\r\n\x1a\n"})
    response = _upload(admin, with_picture)
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "画像・図形・テキストボックスは作成する採用志願書には残りません" in page
    assert count_rows(app, FormTemplate) == 1
