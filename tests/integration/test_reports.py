"""S-A9 reports (帳票): counts, sync history, mail history; on screen, printed and as xlsx; roles and history."""

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
from openpyxl import load_workbook

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.documents import reports
from app.extensions import db
from app.mail.models import MailCampaign, OutboxMessage
from app.outputs.models import OutputRecord
from app.registrants.models import Registrant
from app.sync.models import SyncRun
from tests.conftest import STRONG_PASSWORD, count_rows, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

COUNTS = "/admin/documents/reports/counts"


@pytest.fixture
def dataset(app: Flask, make_registrant: Any) -> None:
    """Five registrants with known regions, job types, statuses and registration times (UTC, Tokyo = +9 h)."""
    with app.app_context():
        codes = {c.code: c for c in [Code(kind="region", code="nagasaki", label="長崎", sort_order=1),
                                     Code(kind="region", code="goto", label="五島", sort_order=2),
                                     Code(kind="job_type", code="ft", label="常勤講師", sort_order=1),
                                     Code(kind="job_type", code="pt", label="非常勤講師", sort_order=2)]}
        db.session.add_all(codes.values())
        db.session.commit()
        ids = {key: code.id for key, code in codes.items()}
    people = [  # (status, region, job types, registered_at in UTC)
        ("active", "nagasaki", ["ft", "pt"], datetime(2025, 5, 10, 3, 0)),
        ("active", "goto", ["ft"], datetime(2025, 4, 30, 16, 0)),  # Tokyo: 1 May 2025, 01:00
        ("active", None, [], datetime(2025, 6, 1, 3, 0)),
        ("expired", "nagasaki", ["pt"], datetime(2026, 3, 31, 15, 30)),  # Tokyo: 1 April 2026, next fiscal year
        ("withdrawn", "nagasaki", [], datetime(2024, 12, 1, 3, 0)),
    ]
    for status, region, jobs, registered in people:
        person = make_registrant(status=status, region_id=ids[region] if region else None, registered_at=registered)
        with app.app_context():
            row = db.session.get(Registrant, person.id)
            row.codes = [db.session.get(Code, ids[j]) for j in jobs]
            db.session.commit()


def _client(app: Flask, make_staff: Any, role: str) -> Any:
    client = app.test_client()
    login(client, make_staff(role).email, STRONG_PASSWORD)
    return client


def _get(client: Any, url: str) -> Any:
    return client.get(url, buffered=True)  # buffered: the spooled xlsx file is closed with the response


def _row(page: str, label: str) -> int | None:
    found = re.search(rf'<th scope="row">{re.escape(label)}</th><td class="num">([\d,]+)</td>', page)
    return int(found.group(1).replace(",", "")) if found else None


def test_counts_for_a_known_data_set(app, dataset):
    with app.test_request_context():
        active = reports.counts_report(db.session, reports.period_for(2025), "active")
        everyone = reports.counts_report(db.session, reports.period_for(2025), "all")
    assert active.total == 3 and everyone.total == 5
    assert active.by_region == [("長崎", 1), ("五島", 1), ("未設定", 1)]
    assert everyone.by_region == [("長崎", 3), ("五島", 1), ("未設定", 1)]
    assert active.by_job_type == [("常勤講師", 2), ("非常勤講師", 1), ("未設定", 1)]
    assert everyone.by_job_type == [("常勤講師", 2), ("非常勤講師", 2), ("未設定", 2)]
    assert active.by_status == [("確認待ち", 0), ("有効", 3), ("期限切れ", 1), ("退会", 1), ("匿名化済", 0)]
    months = dict(active.by_month)
    assert next(iter(months)) == "2025年4月" and list(months)[-1] == "2026年3月" and len(months) == 12
    assert months["2025年4月"] == 0 and months["2025年5月"] == 2 and months["2025年6月"] == 1
    assert sum(months.values()) == 3  # the 1 April 2026 (Tokyo) registration belongs to the next fiscal year


def test_last_twelve_months_end_with_the_current_month():
    period = reports.period_for(None, today=date(2026, 11, 21))
    assert period.months[0] == date(2025, 12, 1) and period.months[-1] == date(2026, 11, 1)
    assert period.start_utc == datetime(2025, 11, 30, 15, 0) and period.end_utc == datetime(2026, 11, 30, 15, 0)


def test_viewer_sees_the_counts_page_with_charts_and_it_is_audited(app, dataset, make_staff):
    viewer = _client(app, make_staff, "viewer")
    response = viewer.get(f"{COUNTS}?fiscal_year=2025&scope=active")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count('<svg class="bar-chart"') == 4
    assert _row(page, "五島") == 1 and _row(page, "常勤講師") == 2 and _row(page, "2025年5月") == 2
    assert _row(page, "有効") == 3
    assert "counts.xlsx" not in page  # a viewer is not offered the file
    assert count_rows(app, OutputRecord) == 0
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "report.view")).one()
        assert event.target == "report:counts"
    assert viewer.get(f"{COUNTS}.xlsx?fiscal_year=2025").status_code == 403


def test_print_view_is_recorded_as_an_output(app, dataset, make_staff):
    viewer = _client(app, make_staff, "viewer")
    response = viewer.get(f"{COUNTS}?fiscal_year=2025&print=1")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "印刷日時" in page and 'data-print' in page and "js/print.js" in page and "css/print.css" in page
    assert 'class="admin-nav"' not in page and "<script>" not in page
    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert record.kind == "report" and record.title == "登録者数の集計(印刷)" and record.row_count == 3
        assert record.filename is None and record.sha256 == hashlib.sha256(response.get_data()).hexdigest()
        assert json.loads(record.filter_description)["fiscal_year"] == 2025


def test_counts_xlsx_opens_with_tables_and_charts_and_matches_the_history(app, dataset, make_staff):
    editor = _client(app, make_staff, "editor")
    response = _get(editor, f"{COUNTS}.xlsx?fiscal_year=2025&scope=all")
    assert response.status_code == 200
    assert re.search(r"tsunagu-report-counts-\d{8}\.xlsx", response.headers["Content-Disposition"])
    data = response.get_data()
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["地域別", "希望職種別", "状態別", "登録月別"]
    rows = [r for r in wb["地域別"].iter_rows(values_only=True) if r and isinstance(r[-1], int)]
    assert [tuple(r[:2]) for r in rows] == [("長崎", 3), ("五島", 1), ("未設定", 1)]
    months = {r[0]: r[1] for r in wb["登録月別"].iter_rows(values_only=True) if r and isinstance(r[1], int)}
    assert months["2025年5月"] == 2 and len(months) == 12
    assert sum(1 for name in zipfile.ZipFile(io.BytesIO(data)).namelist() if name.startswith("xl/charts/chart")) == 4
    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert (record.kind, record.title, record.row_count) == ("report", "登録者数の集計", 5)
        assert record.sha256 == hashlib.sha256(data).hexdigest()
        assert record.filename and record.filename.startswith("tsunagu-report-counts-")


def test_tampered_period_shows_a_message_not_an_error(app, dataset, make_staff):
    viewer = _client(app, make_staff, "viewer")
    for query in ("fiscal_year=2025%27%3BDROP+TABLE+registrant", "fiscal_year=1850", "scope=everything"):
        response = viewer.get(f"{COUNTS}?{query}")
        assert response.status_code == 200, query
        assert "期間または対象の指定が正しくないため" in response.get_data(as_text=True)
    assert count_rows(app, Registrant) == 5


@pytest.fixture
def history(app: Flask) -> None:
    with app.app_context():
        db.session.add_all([
            SyncRun(source="e_application", trigger="timer", status="succeeded", started_at=datetime(2025, 7, 1, 1),
                    finished_at=datetime(2025, 7, 1, 1, 1), fetched=10, created=4, updated=5, unchanged=1),
            SyncRun(source="csv", trigger="staff", status="failed", started_at=datetime(2025, 8, 1, 1),
                    error="接続できません", fetched=3, failed=3),
            SyncRun(source="e_application", trigger="timer", status="succeeded", started_at=datetime(2024, 7, 1, 1),
                    fetched=99, created=99),
        ])
        campaign = MailCampaign(subject_template="説明会のお知らせ", body_template="本文", audience="{}", recipient_count=3,
                                skipped_count=1, status="queued", scheduled_at=datetime(2025, 9, 1, 0),
                                created_by_name="職員 一郎", created_at=datetime(2025, 9, 1, 0))
        db.session.add(campaign)
        db.session.flush()
        for n, status in enumerate(["sent", "sent", "failed"]):
            db.session.add(OutboxMessage(category="campaign", to_address=f"m{n}@example.com", subject="s", body_text="b",
                                         status=status, campaign_id=campaign.id, created_at=datetime(2025, 9, 1, 0)))
        db.session.add(OutboxMessage(category="invitation", to_address="i@example.com", subject="s", body_text="b",
                                     status="sent", created_at=datetime(2025, 10, 1, 0)))
        db.session.commit()


def test_sync_and_mail_history_on_screen_and_in_xlsx(app, history, make_registrant, make_staff):
    make_registrant(registered_at=datetime(2024, 5, 1))  # so fiscal year 2024 is offered, and 2025
    editor = _client(app, make_staff, "editor")
    page = editor.get("/admin/documents/reports/sync?fiscal_year=2025").get_data(as_text=True)
    assert "<dt>実行回数</dt><dd>2(うち失敗 1 回)</dd>" in page and "新規 4 件、更新 5 件" in page
    data = _get(editor, "/admin/documents/reports/sync.xlsx?fiscal_year=2025").get_data()
    rows = [r for r in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True) if r and r[2] in
            {"e_application", "csv"}]
    assert [(r[2], r[4], r[5]) for r in rows] == [("csv", "失敗", 3), ("e_application", "成功", 10)]

    page = editor.get("/admin/documents/reports/mail?fiscal_year=2025").get_data(as_text=True)
    assert "説明会のお知らせ" in page and "職員からのお知らせ" in page and "招待" in page
    assert "m0@example.com" not in page
    wb = load_workbook(io.BytesIO(_get(editor, "/admin/documents/reports/mail.xlsx?fiscal_year=2025").get_data()))
    campaign = next(r for r in wb.worksheets[0].iter_rows(values_only=True) if r and r[2] == "説明会のお知らせ")
    assert campaign[5:11] == (3, 1, 0, 0, 2, 1)  # recipients, skipped, pending, sending, sent, failed
    summary = {r[0]: r[1:] for r in wb.worksheets[1].iter_rows(values_only=True) if r and r[0]}
    assert summary["職員からのお知らせ"] == (0, 0, 2, 1) and summary["招待"] == (0, 0, 1, 0)
    with app.app_context():
        titles = sorted(db.session.scalars(sa.select(OutputRecord.title)))
        assert titles == ["メール送信履歴", "同期履歴"]


REGISTRANTS = "/admin/documents/reports/registrants"


def test_registrant_list_follows_the_search_criteria_columns_and_order(app, dataset, make_staff):
    with app.app_context():
        goto = db.session.scalar(sa.select(Code.id).where(Code.code == "goto"))
        nagasaki = db.session.scalar(sa.select(Code.id).where(Code.code == "nagasaki"))
    viewer = _client(app, make_staff, "viewer")
    query = f"regions={nagasaki}&regions={goto}&statuses=active&columns=id,region,status&sort=region"
    page = viewer.get(f"{REGISTRANTS}?{query}").get_data(as_text=True)
    assert "該当 2 人" in page and "居住地域: 長崎、五島" in page and "状態: 有効" in page
    assert re.findall(r"<td>(長崎|五島)</td>", page) == ["長崎", "五島"]  # sorted by region (master order)
    assert "<th scope=\"col\">登録者ID</th><th scope=\"col\">居住地域</th><th scope=\"col\">状態</th>" in page

    negated = viewer.get(f"{REGISTRANTS}?regions={nagasaki}&not=regions&columns=region").get_data(as_text=True)
    assert "該当 2 人" in negated and "居住地域: 長崎(以外)" in negated  # 五島 and the one with no region

    printed = viewer.get(f"{REGISTRANTS}?{query}&print=1")
    assert printed.status_code == 200 and "印刷日時" in printed.get_data(as_text=True)
    assert viewer.get(f"{REGISTRANTS}.xlsx?{query}").status_code == 403

    editor = _client(app, make_staff, "editor")
    data = _get(editor, f"{REGISTRANTS}.xlsx?{query}").get_data()
    ws = load_workbook(io.BytesIO(data)).active
    table = [r for r in ws.iter_rows(values_only=True) if r and r[0] is not None]
    header = table.index(("登録者ID", "居住地域", "状態"))
    assert [r[1:] for r in table[header + 1:]] == [("長崎", "有効"), ("五島", "有効")]
    with app.app_context():
        records = db.session.scalars(sa.select(OutputRecord).order_by(OutputRecord.id)).all()
        assert [(r.title, r.row_count, r.filename is None) for r in records] == [
            ("登録者一覧(印刷)", 2, True), ("登録者一覧", 2, False)]
        assert records[1].sha256 == hashlib.sha256(data).hexdigest()
        assert json.loads(records[1].filter_description)["criteria"]["regions"] == [nagasaki, goto]


def test_registrant_list_refuses_tampered_parameters_with_a_message(app, dataset, make_staff):
    viewer = _client(app, make_staff, "viewer")
    for query in ("sort=password_hash", "columns=password_hash", "age_min=abc", "regions=1%3BDROP+TABLE+x"):
        response = viewer.get(f"{REGISTRANTS}?{query}")
        page = response.get_data(as_text=True)
        assert response.status_code == 400, query
        assert 'class="flash flash-error"' in page and "登録者一覧を作成できません" in page
    assert count_rows(app, OutputRecord) == 0 and count_rows(app, Registrant) == 5
