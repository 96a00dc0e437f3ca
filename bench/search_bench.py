"""Benchmark of the registrant search (S-A2): a three-criteria search over 100,000 fictitious registrants
on a throwaway MariaDB, through the service layer, against the same SQL run raw on the driver's cursor.

    .venv/bin/python bench/search_bench.py [--rows 100000] [--runs 200]

The search is region (3 municipalities) + licence + age 30–60, sorted by registration date, page 1 of
50 rows plus the total count: `search_statement` + `paginate`, as the search page runs it. The floor is
the same two SQL statements (compiled with their values) executed on a raw DB-API cursor in the same
process. Target (issue 4): p95 < 150 ms. Not a test: it prints figures and never fails a build on time.
`seed()` and `throwaway_app()` are shared with bench/export_bench.py.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import load_line, percentile, progress

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_P95_MS = 150.0
CHUNK = 5000
FAMILY = [("山田", "ヤマダ"), ("鈴木", "スズキ"), ("田中", "タナカ"), ("佐藤", "サトウ"), ("高橋", "タカハシ"),
          ("中村", "ナカムラ"), ("小川", "オガワ"), ("福田", "フクダ"), ("森", "モリ"), ("石川", "イシカワ")]
GIVEN = [("花子", "ハナコ"), ("一郎", "イチロウ"), ("葵", "アオイ"), ("翔太", "ショウタ"), ("結衣", "ユイ"),
         ("亮", "リョウ"), ("美咲", "ミサキ"), ("直樹", "ナオキ"), ("彩", "アヤ"), ("修", "オサム")]
STATUSES = ["active"] * 8 + ["expired", "pending"]
SERVER_PID: list[int] = []  # the throwaway mariadbd, for its CPU time


def server_cpu_ms() -> float:
    """CPU time the database server has used so far (user + system), from /proc: independent of machine load."""
    if not SERVER_PID:
        return 0.0
    with open(f"/proc/{SERVER_PID[0]}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")




@contextmanager
def throwaway_app() -> Iterator[Any]:
    """A migrated Tsunagu app on a fresh MariaDB server (stopped and removed afterwards)."""
    import logging

    from flask_migrate import upgrade

    from app import create_app
    from tests.support.mariadb import ThrowawayMariaDB

    instance = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    os.environ["TSUNAGU_INSTANCE_PATH"] = str(instance)
    print("starting a throwaway MariaDB …", file=sys.stderr)
    server = ThrowawayMariaDB().start()
    if server.process:
        SERVER_PID[:] = [server.process.pid]
    try:
        url = server.create_database("tsunagu_bench")
        app = create_app({"secret_key": secrets.token_urlsafe(48), "database_url": url,
                          "auth_log": str(instance / "auth.log")})
        with app.app_context():
            logging.disable(logging.INFO)  # alembic's progress lines
            upgrade()
            logging.disable(logging.NOTSET)
            yield app
            from app.extensions import db

            db.session.remove()
            db.engine.dispose()
    finally:
        server.stop()
        shutil.rmtree(instance, ignore_errors=True)


def seed(rows: int, seed_value: int = 20261121) -> dict[str, list[int]]:
    """Code masters plus `rows` fictitious registrants with 3–6 codes each (bulk executemany in chunks)."""
    import sqlalchemy as sa

    from app.codes.models import Code
    from app.demo.data import CODE_MASTERS
    from app.extensions import db
    from app.registrants.models import Registrant, registrant_code
    from app.registrants.normalise import name_key, registrant_search_text

    for kind, entries in CODE_MASTERS.items():
        for order, (code, label, label_en) in enumerate(entries, start=1):
            db.session.add(Code(kind=kind, code=code, label=label, label_en=label_en, sort_order=order))
    db.session.commit()
    codes: dict[str, list[int]] = {}
    for kind, code_id in db.session.execute(sa.select(Code.kind, Code.id).order_by(Code.id)):
        codes.setdefault(kind, []).append(code_id)
    db.session.rollback()  # end the session's snapshot, or it would not see the rows inserted below

    rng = random.Random(seed_value)
    today = date.today()
    started = time.perf_counter()
    table = Registrant.__table__
    for first in range(0, rows, CHUNK):
        people, links = [], []
        for n in range(first, min(first + CHUNK, rows)):
            (family, family_kana), (given, given_kana) = rng.choice(FAMILY), rng.choice(GIVEN)
            registered = datetime(2020, 4, 1) + timedelta(minutes=rng.randrange(0, 6 * 365 * 24 * 60))
            people.append({
                "id": n + 1, "source": "demo", "family_name": family, "given_name": given,
                "family_name_kana": family_kana, "given_name_kana": given_kana,
                "name_key": name_key(family, given),
                "search_text": registrant_search_text(family, given, family_kana, given_kana),
                "birth_date": today - timedelta(days=rng.randrange(22 * 365, 75 * 365)),
                "email": f"bench{n + 1:06d}@example.com", "phone": f"000-0000-{n % 10000:04d}",
                "region_id": rng.choice(codes["region"]), "status": rng.choice(STATUSES),
                "registered_at": registered, "valid_until": date(2027, 3, 31), "mail_consent": True,
                "data_use_consent": True, "updated_at": registered, "failed_login_count": 0,
                "career_note": rng.choice(["元小学校教頭", "元中学校教諭(数学)", "学習塾講師", None]),
            })
            chosen = set(rng.sample(codes["licence"], rng.randint(1, 2)))
            chosen |= set(rng.sample(codes["subject"], rng.randint(1, 2)))
            chosen.add(rng.choice(codes["job_type"]))
            chosen.add(rng.choice(codes["school_type"]))
            links += [{"registrant_id": n + 1, "code_id": code_id} for code_id in chosen]
        with db.engine.begin() as conn:
            conn.execute(table.insert(), people)
            conn.execute(registrant_code.insert(), links)
        progress("registrants + codes", min(first + CHUNK, rows), rows, started)
    with db.engine.begin() as conn:  # fresh index statistics, as a live server would have
        conn.exec_driver_sql("ANALYZE TABLE registrant, registrant_code, code")
    return codes


def three_criteria(codes: dict[str, list[int]]) -> dict[str, Any]:
    return {"regions": codes["region"][:3], "licences": codes["licence"][:1], "age_min": 30, "age_max": 60}




def measure(criteria: dict[str, Any], runs: int) -> dict[str, Any]:
    import sqlalchemy as sa

    from app.core.pagination import paginate
    from app.extensions import db
    from app.searches.services import search_statement

    def service_run() -> Any:
        page = paginate(db.session, search_statement(criteria, "-registered_at"), 1, 50)
        db.session.rollback()  # a request ends its transaction; a new one starts with the next
        return page

    first = service_run()
    stmt = search_statement(criteria, "-registered_at")
    dialect = db.engine.dialect
    count_sql = str(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
                    .compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    page_sql = str(stmt.limit(50).offset(0).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    raw = db.engine.raw_connection()
    cursor = raw.cursor()

    def raw_run() -> int:
        cursor.execute(count_sql)
        total = cursor.fetchone()[0]
        cursor.execute(page_sql)
        cursor.fetchall()
        raw.commit()
        return int(total)

    check = raw_run()
    assert check == first.total, f"the raw SQL and the service disagree: {check} != {first.total}\n{count_sql}"
    service_ms, raw_ms = [], []
    cpu = {"service_client": 0.0, "service_server": 0.0, "raw_client": 0.0, "raw_server": 0.0}
    started = time.perf_counter()
    for n in range(runs):  # interleaved, so drift in the machine's load hits both alike
        t0, c0, s0 = time.perf_counter(), time.process_time(), server_cpu_ms()
        service_run()
        service_ms.append((time.perf_counter() - t0) * 1000)
        cpu["service_client"] += (time.process_time() - c0) * 1000
        cpu["service_server"] += server_cpu_ms() - s0
        t0, c0, s0 = time.perf_counter(), time.process_time(), server_cpu_ms()
        raw_run()
        raw_ms.append((time.perf_counter() - t0) * 1000)
        cpu["raw_client"] += (time.process_time() - c0) * 1000
        cpu["raw_server"] += server_cpu_ms() - s0
        progress("search runs", n + 1, runs, started)
    cursor.close()
    raw.close()
    return {"total": first.total, "shown": len(first.items), "service": service_ms, "raw": raw_ms,
            "page_sql": page_sql, "cpu": {key: value / runs for key, value in cpu.items()}}


def report(rows: int, runs: int, seed_s: float, result: dict[str, Any]) -> None:
    service, raw = result["service"], result["raw"]
    p50, p95 = percentile(service, 0.50), percentile(service, 0.95)
    raw50, raw95 = percentile(raw, 0.50), percentile(raw, 0.95)
    print()
    print(f"registrants: {rows}, seeded in {seed_s:.1f} s; three-criteria search matched {result['total']} "
          f"(page 1 shows {result['shown']}); {runs} runs")
    print(f"{'':<22} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    print(f"{'service layer':<22} {p50:>8.1f} {p95:>8.1f} {statistics.fmean(service):>8.1f}")
    print(f"{'raw SQL (DB-API)':<22} {raw50:>8.1f} {raw95:>8.1f} {statistics.fmean(raw):>8.1f}")
    print(f"service/raw ratio: p50 {p50 / raw50:.2f}x, p95 {p95 / raw95:.2f}x")
    cpu = result["cpu"]
    print(f"CPU per search (ms, mean; not affected by waiting for a busy CPU): service {cpu['service_client']:.1f} "
          f"in this process + {cpu['service_server']:.1f} in MariaDB; raw {cpu['raw_client']:.1f} + "
          f"{cpu['raw_server']:.1f} in MariaDB")
    print(f"target p95 < {TARGET_P95_MS:.0f} ms: {'met' if p95 < TARGET_P95_MS else 'MISSED'}")
    print(load_line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--show-sql", action="store_true", help="print the page query and MariaDB's EXPLAIN")
    args = parser.parse_args()
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # stop the server on kill
    with throwaway_app():
        started = time.perf_counter()
        codes = seed(args.rows)
        seed_s = time.perf_counter() - started
        result = measure(three_criteria(codes), args.runs)
        if args.show_sql:
            from app.extensions import db

            print(result["page_sql"])
            with db.engine.connect() as conn:
                for row in conn.exec_driver_sql("EXPLAIN " + result["page_sql"]):
                    print(row)
    report(args.rows, args.runs, seed_s, result)


if __name__ == "__main__":
    main()
