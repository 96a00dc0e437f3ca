"""Fictitious registrants and open job postings for the matching and posting-notice benchmarks.

    from bench.matching_seed import seed_matching
    info = seed_matching(db.engine, registrants=100_000, postings=1_000)

Works on an Engine (each chunk in its own transaction) or a (scoped) Session (each chunk committed). The code
masters of app/demo/data.py are added first when the database has none. Registrants carry licences,
subjects, desired job and school types, and (one in three) desired work regions; most are active and
consent to data use, some expired, pending or withdrawn. Every posting is open, with a required licence
(most), a preferred licence (some) and one or two subjects. Deterministic for a given `seed_value`.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

CHUNK = 5000
FAMILY = [("山田", "ヤマダ"), ("鈴木", "スズキ"), ("田中", "タナカ"), ("佐藤", "サトウ"), ("高橋", "タカハシ"),
          ("中村", "ナカムラ"), ("小川", "オガワ"), ("福田", "フクダ"), ("森", "モリ"), ("石川", "イシカワ")]
GIVEN = [("花子", "ハナコ"), ("一郎", "イチロウ"), ("葵", "アオイ"), ("翔太", "ショウタ"), ("結衣", "ユイ"),
         ("亮", "リョウ"), ("美咲", "ミサキ"), ("直樹", "ナオキ"), ("彩", "アヤ"), ("修", "オサム")]
STATUSES = ["active"] * 16 + ["expired", "pending", "withdrawn", "active"]
TITLES = ["常勤講師", "非常勤講師", "学習指導員", "部活動指導員", "支援員"]


def _progress(label: str, done: int, total: int, started: float, quiet: bool) -> None:
    if quiet:
        return
    rate = done / max(time.perf_counter() - started, 1e-9)
    sys.stderr.write(f"\r  {label:<24} {done:>8}/{total} {rate:8.0f}/s")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _insert(target: Any, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if not isinstance(target, sa.engine.Engine):
        target.execute(table.insert(), rows)
        target.commit()
    else:
        with target.begin() as conn:
            conn.execute(table.insert(), rows)


def _scalar(target: Any, stmt: Any) -> Any:
    if not isinstance(target, sa.engine.Engine):
        return target.scalar(stmt)
    with target.connect() as conn:
        return conn.scalar(stmt)


def _rows(target: Any, stmt: Any) -> list[Any]:
    if not isinstance(target, sa.engine.Engine):
        return list(target.execute(stmt))
    with target.connect() as conn:
        return list(conn.execute(stmt))


def ensure_codes(target: Any) -> dict[str, list[int]]:
    """{kind: [code ids]}; the demo code masters are inserted first if the table is empty."""
    from app.codes.models import Code
    from app.demo.data import CODE_MASTERS

    if not _scalar(target, sa.select(sa.func.count()).select_from(Code)):
        _insert(target, Code.__table__, [
            {"kind": kind, "code": code, "label": label, "label_en": label_en, "sort_order": order,
             "is_active": True}
            for kind, entries in CODE_MASTERS.items() for order, (code, label, label_en) in enumerate(entries, 1)])
    codes: dict[str, list[int]] = {}
    for kind, code_id in _rows(target, sa.select(Code.kind, Code.id).order_by(Code.id)):
        codes.setdefault(kind, []).append(code_id)
    return codes


def seed_matching(target: Any, registrants: int, postings: int, *, seed_value: int = 20261205,
                  today: date | None = None, quiet: bool = False) -> dict[str, Any]:
    """Insert `registrants` registrants and `postings` open postings with their codes.

    Returns {"codes": {kind: ids}, "registrant_ids": range, "posting_ids": range}."""
    from app.postings.models import JobPosting, posting_code
    from app.registrants.models import Registrant, registrant_code
    from app.registrants.normalise import name_key, registrant_search_text

    codes = ensure_codes(target)
    rng = random.Random(seed_value)
    today = today or date.today()
    first_id = (_scalar(target, sa.select(sa.func.max(Registrant.id))) or 0) + 1
    started = time.perf_counter()
    for first in range(first_id, first_id + registrants, CHUNK):
        people, links = [], []
        for n in range(first, min(first + CHUNK, first_id + registrants)):
            (family, family_kana), (given, given_kana) = rng.choice(FAMILY), rng.choice(GIVEN)
            registered = datetime(2020, 4, 1) + timedelta(minutes=rng.randrange(0, 6 * 365 * 24 * 60))
            available = None if rng.random() < 0.6 else today + timedelta(days=rng.randrange(-180, 240))
            people.append({
                "id": n, "source": "demo", "family_name": family, "given_name": given,
                "family_name_kana": family_kana, "given_name_kana": given_kana,
                "name_key": name_key(family, given),
                "search_text": registrant_search_text(family, given, family_kana, given_kana),
                "birth_date": today - timedelta(days=rng.randrange(22 * 365, 75 * 365)),
                "email": f"match{n:07d}@example.com", "phone": f"000-0000-{n % 10000:04d}",
                "region_id": rng.choice(codes["region"]), "status": rng.choice(STATUSES),
                "registered_at": registered, "valid_until": date(today.year + 1, 3, 31),
                "mail_consent": rng.random() < 0.9, "data_use_consent": rng.random() < 0.95,
                "posting_notice_opt_in": rng.random() < 0.3, "available_from": available,
                "updated_at": registered, "failed_login_count": 0,
            })
            chosen = set(rng.sample(codes["licence"], rng.randint(1, 2)))
            chosen |= set(rng.sample(codes["subject"], rng.randint(1, 3)))
            chosen |= set(rng.sample(codes["job_type"], rng.randint(1, 2)))
            chosen.add(rng.choice(codes["school_type"]))
            if rng.random() < 0.33:
                chosen |= set(rng.sample(codes["region"], rng.randint(1, 3)))
            links += [{"registrant_id": n, "code_id": code_id} for code_id in sorted(chosen)]
        _insert(target, Registrant.__table__, people)
        _insert(target, registrant_code, links)
        _progress("registrants + codes", min(first + CHUNK, first_id + registrants) - first_id, registrants,
                  started, quiet)

    first_posting = (_scalar(target, sa.select(sa.func.max(JobPosting.id))) or 0) + 1
    from app.core.timeutil import utcnow

    now = utcnow().replace(microsecond=0)
    started = time.perf_counter()
    for first in range(first_posting, first_posting + postings, CHUNK):
        rows, links = [], []
        for n in range(first, min(first + CHUNK, first_posting + postings)):
            start = today + timedelta(days=rng.randrange(-30, 90))
            subjects = rng.sample(codes["subject"], rng.randint(1, 2))
            rows.append({
                "id": n, "title": f"ベンチ求人 {n} {rng.choice(TITLES)}", "school_name": f"ベンチ第{n}中学校",
                "school_type_id": rng.choice(codes["school_type"]), "region_id": rng.choice(codes["region"]),
                "job_type_id": rng.choice(codes["job_type"]), "period_start": start,
                "period_end": start + timedelta(days=rng.choice([90, 180, 365])) if rng.random() < 0.8 else None,
                "openings": rng.randint(1, 3), "status": "open", "publish_from": now, "show_in_portal": True,
                "created_at": now, "updated_at": now,
            })
            links += [{"posting_id": n, "code_id": c, "role": "subject"} for c in subjects]
            licences = rng.sample(codes["licence"], 2)
            if rng.random() < 0.8:
                links.append({"posting_id": n, "code_id": licences[0], "role": "required_licence"})
            if rng.random() < 0.4:
                links.append({"posting_id": n, "code_id": licences[1], "role": "preferred_licence"})
        _insert(target, JobPosting.__table__, rows)
        _insert(target, posting_code, links)
        _progress("postings + codes", min(first + CHUNK, first_posting + postings) - first_posting, postings,
                  started, quiet)
    return {"codes": codes, "registrant_ids": range(first_id, first_id + registrants),
            "posting_ids": range(first_posting, first_posting + postings)}
