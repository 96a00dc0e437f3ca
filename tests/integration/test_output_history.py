"""S-A6/A7 output history: every produced file listed with who, when, what, filter, rows and SHA-256;
filters; the history exported as CSV (and itself recorded); roles; bad filter values (SQLite and MariaDB)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app import audit
from app.audit.models import AuditEvent
from app.codes.models import Code
from app.core.timeutil import to_tokyo, utcnow
from app.extensions import db
from app.outputs.models import OutputKind, OutputRecord
from app.outputs.services import record_output
from app.registrants.normalise import registrant_search_text
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)


def _post(client: Any, path: str, data: dict[str, Any]) -> Any:
    response = client.post(path, data=data)
    response.get_data()
    response.close()
    return response


def _export_list(client: Any, fmt: str, query: str) -> bytes:
    token = csrf_token(client, "/admin/search/")
    response = _post(client, f"/admin/search/export/{fmt}", {"csrf_token": token, "query": query})
    assert response.status_code == 200
    return response.get_data()


def test_history_lists_exports_with_checksums_and_filters(app, make_staff, make_registrant):
    editor, other, viewer = make_staff("editor"), make_staff("editor"), make_staff("viewer")
    with app.app_context():
        region = Code(kind="region", code="iki", label="壱岐市")
        db.session.add(region)
        db.session.commit()
        region_id = region.id
    for n in range(3):
        make_registrant(family_name=f"試験{n}", region_id=region_id,
                        search_text=registrant_search_text(f"試験{n}", "花子", "シケン", "ハナコ"))
    editor_client, other_client = app.test_client(), app.test_client()
    login(editor_client, editor.email, STRONG_PASSWORD)
    login(other_client, other.email, STRONG_PASSWORD)
    csv_bytes = _export_list(editor_client, "csv", f"regions={region_id}&name=試験")
    xlsx_bytes = _export_list(other_client, "xlsx", "")
    with app.app_context():
        old = record_output(db.session, audit.SYSTEM, kind=OutputKind.MAIL, title="お知らせメール", filters={},
                            row_count=12, filename=None, sha256=None, ip=None)
        old.created_at = utcnow() - timedelta(days=40)
        db.session.commit()

    client = app.test_client()
    login(client, viewer.email, STRONG_PASSWORD)
    page = client.get("/admin/outputs/").get_data(as_text=True)
    assert "3 件" in page
    assert hashlib.sha256(csv_bytes).hexdigest() in page and hashlib.sha256(xlsx_bytes).hexdigest() in page
    assert "居住地域=壱岐市" in page and "氏名=(指定あり)" in page  # code labels, no typed names
    assert "試験" not in page
    assert editor.display_name in page and "お知らせメール" in page
    assert "この履歴をCSV出力" not in page  # viewer

    page = client.get("/admin/outputs/?kind=xlsx").get_data(as_text=True)
    assert "1 件" in page and hashlib.sha256(xlsx_bytes).hexdigest() in page
    page = client.get(f"/admin/outputs/?staff={editor.id}").get_data(as_text=True)
    assert "1 件" in page and hashlib.sha256(csv_bytes).hexdigest() in page
    today = to_tokyo(utcnow()).date()  # type: ignore[union-attr]
    page = client.get(f"/admin/outputs/?date_from={today - timedelta(days=1)}&date_to={today}").get_data(as_text=True)
    assert "2 件" in page and "お知らせメール" not in page

    # the viewer may not export the history
    token = csrf_token(client, "/admin/outputs/")
    assert _post(client, "/admin/outputs/export", {"csrf_token": token, "query": ""}).status_code == 403

    token = csrf_token(editor_client, "/admin/outputs/")
    response = _post(editor_client, "/admin/outputs/export", {"csrf_token": token, "query": "kind=csv"})
    assert response.status_code == 200
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["出力日時", "種類", "内容"] and rows[0][-1] == "SHA-256"
    assert len(rows) == 2 and rows[1][-1] == hashlib.sha256(csv_bytes).hexdigest() and rows[1][5] == "3"
    with app.app_context():
        entry = db.session.scalars(sa.select(OutputRecord).where(OutputRecord.title == "出力履歴")).one()
        assert entry.kind == "csv" and entry.row_count == 1 and entry.sha256 == hashlib.sha256(body).hexdigest()
        assert json.loads(entry.filter_description) == {"kind": "csv"}
        actions = list(db.session.scalars(sa.select(AuditEvent.action)))
        assert actions.count("output.csv") == 2 and "output.xlsx" in actions and "output.list" in actions


def test_bad_filters_give_a_message_not_an_error(app, make_staff):
    viewer = make_staff("viewer")
    client = app.test_client()
    login(client, viewer.email, STRONG_PASSWORD)
    for query in ("?kind=evil", "?date_from=yesterday", "?staff=1%20OR%201=1", "?page=999999999999"):
        response = client.get(f"/admin/outputs/{query}")
        assert response.status_code == 400, query
        assert "絞り込み条件を確認してください" in response.get_data(as_text=True)
    response = client.get("/admin/outputs/?page=500")
    assert response.status_code == 200
    assert "500 ページ目はありません" in response.get_data(as_text=True)


def test_history_is_paginated_newest_first(app, make_staff):
    viewer = make_staff("viewer")
    with app.app_context():
        for n in range(55):
            entry = record_output(db.session, audit.SYSTEM, kind=OutputKind.REPORT, title=f"帳票{n:02d}", filters={},
                                  row_count=n, filename=f"r{n}.xlsx", sha256="0" * 64, ip=None)
            entry.created_at = datetime(2026, 4, 1) + timedelta(minutes=n)
        db.session.commit()
    client = app.test_client()
    login(client, viewer.email, STRONG_PASSWORD)
    first = client.get("/admin/outputs/").get_data(as_text=True)
    assert "帳票54" in first and "帳票05" in first and "帳票04" not in first
    second = client.get("/admin/outputs/?page=2").get_data(as_text=True)
    assert "帳票04" in second and "帳票00" in second and "帳票54" not in second
