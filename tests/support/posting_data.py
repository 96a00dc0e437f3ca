"""Job postings and the code masters they need, written directly with the models (for mail and report tests)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.codes.models import Code
from app.core.timeutil import utcnow
from app.extensions import db
from app.postings.models import JobPosting, PostingCodeRole, posting_code
from app.registrants.models import Registrant

CODES = [("region", "nagasaki", "長崎市", 1), ("region", "sasebo", "佐世保市", 2), ("region", "goto", "五島市", 3),
         ("school_type", "jhs", "中学校", 1), ("job_type", "ft", "常勤講師", 1),
         ("licence", "jhs_math1", "中学校教諭一種(数学)", 1), ("licence", "es1", "小学校教諭一種", 2),
         ("subject", "math", "数学", 1)]


def make_codes(app: Flask) -> dict[str, int]:
    """{code: id} for a small code master (regions, a school type, a job type, licences, a subject)."""
    with app.app_context():
        rows = [Code(kind=kind, code=code, label=label, sort_order=order) for kind, code, label, order in CODES]
        db.session.add_all(rows)
        db.session.commit()
        return {row.code: row.id for row in rows}


def make_posting(app: Flask, codes: dict[str, int], *, required: tuple[str, ...] = ("jhs_math1",),
                 region: str = "nagasaki", **fields: Any) -> int:
    """An open posting (published an hour ago) in `region` requiring `required`; returns its id."""
    values: dict[str, Any] = {
        "title": "中学校 数学 常勤講師", "school_name": "長崎市立つなぐ中学校", "school_type_id": codes["jhs"],
        "region_id": codes[region], "job_type_id": codes["ft"], "period_start": date.today() + timedelta(days=10),
        "period_end": date.today() + timedelta(days=200), "days_hours": "月〜金 8:15〜16:45", "openings": 1,
        "contact": "つなぐ中学校 教頭 000-0000-0000", "status": "open", "publish_from": utcnow() - timedelta(hours=1),
        "show_in_portal": True, **fields}
    with app.app_context():
        posting = JobPosting(**values)
        db.session.add(posting)
        db.session.flush()
        if required:
            db.session.execute(sa.insert(posting_code), [
                {"posting_id": posting.id, "code_id": codes[code], "role": PostingCodeRole.REQUIRED_LICENCE.value}
                for code in required])
        db.session.commit()
        return posting.id


def give_codes(app: Flask, registrant_id: int, codes: dict[str, int], *names: str) -> None:
    with app.app_context():
        registrant = db.session.get(Registrant, registrant_id)
        registrant.codes = [db.session.get(Code, codes[name]) for name in names]
        db.session.commit()
