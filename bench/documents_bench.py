"""Benchmark of the application form (採用志願書) and the xlsx reports (S-A8/A9), on SQLite and a throwaway MariaDB.

    .venv/bin/python bench/documents_bench.py [--forms 200] [--registrants 10000] [--backends sqlite,mariadb]

Form: one registrant filled into the default template N times through the service the download view uses
(`application_form`: active-template lookup, registrant and codes loaded afresh, fill, save), against a
floor measured in the same run: openpyxl load + save of the same template without filling. Target
(issue 4): one form under 300 ms.
Reports: the counts workbook (aggregate queries + four sheets with charts) and the registrant list of every
registrant (streamed rows, write-only workbook), the latter against a floor of writing the same rows,
already in memory, with a bare write-only workbook. Not a test: it prints figures and never fails a build.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import load_line, percentile, progress, run_per_backend

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_FORM_MS = 300.0






def _seed(registrants: int) -> int:
    """Code masters and `registrants` people with regions and codes (bulk INSERT); returns one registrant's id."""
    import sqlalchemy as sa

    from app.codes.models import Code
    from app.demo.data import CODE_MASTERS
    from app.extensions import db
    from app.registrants.models import Registrant, registrant_code

    for kind, entries in CODE_MASTERS.items():
        for order, (code, label, label_en) in enumerate(entries, start=1):
            db.session.add(Code(kind=kind, code=code, label=label, label_en=label_en, sort_order=order))
    db.session.commit()
    by_kind: dict[str, list[int]] = {}
    for code_id, kind in db.session.execute(sa.select(Code.id, Code.kind)):
        by_kind.setdefault(kind, []).append(code_id)
    rng = random.Random(20260401)
    now = datetime(2026, 11, 1)
    started, batch = time.perf_counter(), 2000
    for first in range(0, registrants, batch):
        rows = []
        for n in range(first, min(first + batch, registrants)):
            rows.append({"family_name": "長崎", "given_name": f"花子{n}", "family_name_kana": "ナガサキ",
                         "given_name_kana": "ハナコ", "name_key": f"長崎花子{n}", "search_text": f"ながさきはなこ{n}",
                         "email": f"bench{n}@example.com", "phone": "000-0000-0000", "postal_code": "850-0000",
                         "address": "長崎県長崎市尾上町3-1", "birth_date": date(1950, 1, 1) + timedelta(days=rng.randrange(18000)),
                         "region_id": rng.choice(by_kind["region"]), "available_from": date(2027, 4, 1),
                         "career_note": "1990年4月 教諭\n2024年3月 退職", "status": "active",
                         "registered_at": now - timedelta(days=rng.randrange(700)), "valid_until": date(2027, 3, 31),
                         "updated_at": now, "source": "demo", "mail_consent": True, "data_use_consent": True})
        db.session.execute(sa.insert(Registrant), rows)
        db.session.commit()
        progress("registrants", min(first + batch, registrants), registrants, started)
    ids = list(db.session.scalars(sa.select(Registrant.id)))
    links = []
    for registrant_id in ids:
        for kind in ("licence", "subject", "job_type", "school_type"):
            for code_id in rng.sample(by_kind[kind], 2):
                links.append({"registrant_id": registrant_id, "code_id": code_id})
    for first in range(0, len(links), 10_000):
        db.session.execute(registrant_code.insert(), links[first:first + 10_000])
    db.session.commit()
    return ids[0]


def _time_forms(registrant_id: int, forms: int) -> dict[str, Any]:
    from openpyxl import load_workbook

    from app.documents import services
    from app.extensions import db
    from app.registrants.models import Registrant

    template = services.default_template_bytes()
    for _ in range(5):  # warm-up: imports, caches, the first connection
        services.application_form(db.session, db.session.get(Registrant, registrant_id))
        load_workbook(io.BytesIO(template)).save(io.BytesIO())
    floor, fill = [], []
    started = time.perf_counter()
    for n in range(forms):
        t0 = time.perf_counter()
        load_workbook(io.BytesIO(template)).save(io.BytesIO())
        floor.append((time.perf_counter() - t0) * 1000)
        db.session.expunge_all()  # each form loads its registrant and codes afresh, as a request does
        t0 = time.perf_counter()
        data = services.application_form(db.session, db.session.get(Registrant, registrant_id))
        fill.append((time.perf_counter() - t0) * 1000)
        progress("forms (fill + floor)", n + 1, forms, started)
    return {"form_p50": statistics.median(fill), "form_p95": percentile(fill, 0.95), "form_max": max(fill),
            "floor_p50": statistics.median(floor), "floor_p95": percentile(floor, 0.95), "form_bytes": len(data)}


def _time_reports() -> dict[str, Any]:
    from openpyxl import Workbook

    from app.documents import reports
    from app.extensions import db
    from app.outputs.services import HashingWriter
    from app.searches.columns import COLUMNS, DEFAULT_COLUMNS
    from app.searches.exports import stream_rows
    from app.searches.services import search_statement

    lines = ["出力日時: bench", "条件: すべて"]
    t0 = time.perf_counter()
    report = reports.counts_report(db.session, reports.period_for(None), "active")
    writer = HashingWriter()
    reports.counts_workbook(report, lines, writer)
    counts_s = time.perf_counter() - t0

    columns = list(DEFAULT_COLUMNS)
    headers = [str(COLUMNS[key].label) for key in columns]
    t0 = time.perf_counter()
    writer = HashingWriter()
    rows = reports.registrant_workbook("登録者一覧", lines, headers, stream_rows(db.session, search_statement({}), columns),
                                       writer)
    list_s = time.perf_counter() - t0
    list_bytes = writer.size

    in_memory = list(stream_rows(db.session, search_statement({}), columns))
    t0 = time.perf_counter()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("floor")
    ws.append(headers)
    for row in in_memory:
        ws.append(row)
    wb.save(io.BytesIO())
    floor_s = time.perf_counter() - t0
    return {"counts_s": counts_s, "counts_total": report.total, "list_s": list_s, "list_rows": rows,
            "list_mb": list_bytes / 1024 / 1024, "list_floor_s": floor_s}


def run_backend(backend: str, url: str, forms: int, registrants: int) -> dict[str, Any]:
    import logging

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    instance = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    os.environ["TSUNAGU_INSTANCE_PATH"] = str(instance)
    app = create_app({"secret_key": secrets.token_urlsafe(48), "database_url": url,
                      "auth_log": str(instance / "auth.log")})
    try:
        with app.test_request_context():
            logging.disable(logging.INFO)
            upgrade()
            logging.disable(logging.NOTSET)
            registrant_id = _seed(registrants)
            result = {"backend": backend, **_time_forms(registrant_id, forms), **_time_reports()}
            db.session.remove()
            db.engine.dispose()
        return result
    finally:
        shutil.rmtree(instance, ignore_errors=True)


def _report(results: list[dict[str, Any]], forms: int) -> None:
    print()
    print(f"application form, {forms} fills each (ms):")
    print(f"{'backend':<8} {'p50':>7} {'p95':>7} {'max':>7} {'floor p50':>10} {'floor p95':>10} {'fill/floor':>10}  status")
    for r in results:
        if "error" in r:
            print(f"{r['backend']:<8} {r['error']}")
            continue
        ok = r["form_p95"] < TARGET_FORM_MS
        print(f"{r['backend']:<8} {r['form_p50']:>7.1f} {r['form_p95']:>7.1f} {r['form_max']:>7.1f} "
              f"{r['floor_p50']:>10.1f} {r['floor_p95']:>10.1f} {r['form_p50'] / r['floor_p50']:>9.2f}x  "
              f"{'target met' if ok else 'TARGET MISSED'} (p95 < {TARGET_FORM_MS:.0f} ms)")
    print()
    print("xlsx reports (s):")
    print(f"{'backend':<8} {'counts':>7} {'(people)':>9} {'list':>7} {'rows':>7} {'MB':>6} {'floor':>7} {'list/floor':>10}")
    for r in results:
        if "error" in r:
            continue
        print(f"{r['backend']:<8} {r['counts_s']:>7.2f} {r['counts_total']:>9} {r['list_s']:>7.2f} {r['list_rows']:>7} "
              f"{r['list_mb']:>6.1f} {r['list_floor_s']:>7.2f} {r['list_s'] / r['list_floor_s']:>9.2f}x")
    print("floor (form): openpyxl load + save of the same template, no filling; floor (list): a bare write-only "
          "workbook of the same rows already in memory")
    print(load_line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", type=int, default=200)
    parser.add_argument("--registrants", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,mariadb")
    args = parser.parse_args()

    results = run_per_backend(args.backends, f"{args.registrants} registrants, {args.forms} forms",
                              lambda backend, url: run_backend(backend, url, args.forms, args.registrants))
    _report(results, args.forms)


if __name__ == "__main__":
    main()
