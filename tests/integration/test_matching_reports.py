"""The 「マッチング・選考状況」 report: per posting, per region, per month; on screen, printed and as xlsx."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import datetime

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from app.audit.models import AuditEvent
from app.documents import reports
from app.extensions import db
from app.matching.models import MatchCandidate
from app.outputs.models import OutputRecord
from tests.conftest import STRONG_PASSWORD, count_rows, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)
from tests.support.posting_data import make_codes, make_posting

URL = "/admin/documents/reports/matching"


@pytest.fixture
def dataset(app, make_registrant):
    """Fiscal year 2026 (April 2026 to March 2027). Times are UTC; Tokyo is 9 hours ahead."""
    codes = make_codes(app)
    people = [make_registrant().id for _ in range(4)]
    p1 = make_posting(app, codes, title="=数学 講師", created_at=datetime(2026, 5, 1, 3), openings=2)
    p2 = make_posting(app, codes, title="佐世保 理科", region="sasebo", status="filled",
                      created_at=datetime(2026, 5, 15, 3), closed_at=datetime(2026, 7, 1, 3))
    p3 = make_posting(app, codes, title="下書きの求人", status="draft", created_at=datetime(2026, 5, 2, 3))
    p4 = make_posting(app, codes, title="昨年度に終了", region="goto", status="closed",
                      created_at=datetime(2025, 12, 1, 3), closed_at=datetime(2026, 3, 1, 3))
    p5 = make_posting(app, codes, title="五島 英語", region="goto", created_at=datetime(2026, 10, 1, 3))
    a, b, c, d = people
    rows = [  # (posting, registrant, stage, created_at, stage_changed_at)
        (p1, a, "proposed", datetime(2026, 5, 20, 3), datetime(2026, 5, 20, 3)),
        (p1, b, "contacted", datetime(2026, 5, 20, 3), datetime(2026, 5, 25, 3)),
        (p1, c, "hired", datetime(2026, 5, 20, 3), datetime(2026, 6, 10, 16)),  # Tokyo: 11 June
        (p1, d, "declined", datetime(2026, 6, 5, 3), datetime(2026, 6, 6, 3)),
        (p2, a, "hired", datetime(2026, 6, 1, 3), datetime(2026, 6, 30, 15, 30)),  # Tokyo: 1 July, 00:30
        (p2, b, "interviewing", datetime(2026, 6, 1, 3), datetime(2026, 6, 15, 3)),
        (p3, c, "proposed", datetime(2026, 5, 3, 3), datetime(2026, 5, 3, 3)),  # a draft: not counted
        (p4, d, "hired", datetime(2026, 1, 10, 3), datetime(2026, 2, 10, 3)),  # before the period
    ]
    with app.app_context():
        db.session.add_all(MatchCandidate(posting_id=p, registrant_id=r, stage=s, score=10, created_at=at,
                                          stage_changed_at=changed) for p, r, s, at, changed in rows)
        db.session.commit()
    return {"p1": p1, "p2": p2, "p5": p5}


def test_counts_for_a_known_data_set(app, dataset):
    with app.test_request_context():
        report = reports.matching_report(db.session, reports.period_for(2026))
    assert report.total_postings == 3
    assert [row.title for row in report.postings] == ["五島 英語", "佐世保 理科", "=数学 講師"]
    by_id = {row.id: row for row in report.postings}
    first = by_id[dataset["p1"]]
    assert first.by_stage == {"proposed": 1, "contacted": 1, "hired": 1, "declined": 1}
    assert (first.candidates, first.hired, first.openings, first.region) == (4, 1, 2, "長崎市")
    assert by_id[dataset["p2"]].by_stage == {"hired": 1, "interviewing": 1} and by_id[dataset["p5"]].candidates == 0
    assert [(r.region, r.postings, r.candidates, r.hired) for r in report.by_region] == [
        ("長崎市", 1, 4, 1), ("佐世保市", 1, 2, 1), ("五島市", 1, 0, 0)]
    months = {row.month: (row.added, row.hired) for row in report.by_month}
    assert len(months) == 12 and next(iter(months)) == "2026年4月"
    assert months["2026年5月"] == (4, 0)  # includes the draft's candidate: added is by candidate, any posting
    assert months["2026年6月"] == (3, 1) and months["2026年7月"] == (0, 1)
    assert report.totals["candidates"] == 6 and report.totals["hired"] == 2


def test_viewer_sees_the_report_with_charts_and_it_is_audited(app, dataset, make_staff):
    viewer = app.test_client()
    login(viewer, make_staff("viewer").email, STRONG_PASSWORD)
    response = viewer.get(f"{URL}?fiscal_year=2026")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count('<svg class="bar-chart"') == 3
    assert "佐世保 理科" in page and "下書きの求人" not in page and "昨年度に終了" not in page
    assert re.search(r'<th scope="row">五島市</th><td class="num">1</td><td class="num">0</td>', page)
    assert "matching.xlsx" not in page
    assert viewer.get(f"{URL}.xlsx?fiscal_year=2026").status_code == 403
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "report.view")).one()
        assert event.target == "report:matching"
    printed = viewer.get(f"{URL}?fiscal_year=2026&print=1")
    assert printed.status_code == 200 and "印刷日時" in printed.get_data(as_text=True)
    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert (record.kind, record.title, record.row_count) == ("report", "マッチング・選考状況(印刷)", 3)
    assert "マッチング・選考状況" in viewer.get("/admin/documents/reports").get_data(as_text=True)


def test_xlsx_opens_with_the_same_figures_and_is_recorded(app, dataset, make_staff):
    editor = app.test_client()
    login(editor, make_staff("editor").email, STRONG_PASSWORD)
    response = editor.get(f"{URL}.xlsx?fiscal_year=2026", buffered=True)
    assert response.status_code == 200
    assert re.search(r"tsunagu-report-matching-\d{8}\.xlsx", response.headers["Content-Disposition"])
    wb = load_workbook(io.BytesIO(response.get_data()))
    assert wb.sheetnames == ["求人別", "地域別", "月別"]
    postings = [r for r in wb["求人別"].iter_rows(values_only=True) if r and isinstance(r[0], int)]
    assert [r[1] for r in postings] == ["五島 英語", "佐世保 理科", "=数学 講師"]
    cell = next(c for c in wb["求人別"]["B"] if c.value == "=数学 講師")
    assert cell.data_type == "s"  # a title starting with "=" stays text, never a formula
    assert postings[2][4:] == ("募集中", 2, 4, 1, 1, 0, 1, 1)
    regions = [r for r in wb["地域別"].iter_rows(values_only=True) if r and isinstance(r[-1], int)]
    assert [tuple(r[:4]) for r in regions] == [("長崎市", 1, 4, 1), ("佐世保市", 1, 2, 1), ("五島市", 1, 0, 0)]
    months = {r[0]: r[1:3] for r in wb["月別"].iter_rows(values_only=True) if r and isinstance(r[-1], int)}
    assert months["2026年6月"] == (3, 1) and len(months) == 12
    charts = [n for n in zipfile.ZipFile(io.BytesIO(response.get_data())).namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 2
    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert (record.kind, record.title, record.row_count) == ("report", "マッチング・選考状況", 3)
        assert json.loads(record.filter_description)["report"] == "matching"
    assert count_rows(app, OutputRecord) == 1
