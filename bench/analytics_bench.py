"""Benchmark of the analytics (N5) and the monthly report (N10), on SQLite and a throwaway MariaDB.

    .venv/bin/python bench/analytics_bench.py [--registrants 10000] [--views 1000000] [--requests 2000]
                                              [--backends sqlite,mariadb] [--small]

Seeds fictitious registrants (with renewals and expiries), page views spread over the last 12 months (bulk
INSERTs), articles, bulk messages with read states, outbox mails with bounces, surveys with responses and
ratings, and events with RSVPs. Then measures, through the test client as a staff user would:
  - the dashboard: cold (the first request also summarises up to 62 missing days), the full
    `flask analytics rollup` of the remaining days, and warm renders of each period (median of 10);
  - the monthly report of last month and the fiscal-year summary (aggregate + workbook + output history);
  - the recording overhead: the same portal page (a logged-in registrant's guide page) requested N times
    with recording on and N times with recording off, interleaved, in the same run; the difference of the
    medians and their ratio.
Targets (issue 6): dashboard < 1 s and monthly report < 30 s on MariaDB, recording overhead < 2 ms median.
Not a test: it prints figures and never fails a build on time. --small: 1,000 registrants, 50,000 views,
300 requests.
"""

from __future__ import annotations

import argparse
import os
import random
import re
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

TARGETS = {"dashboard_s": 1.0, "report_s": 30.0, "overhead_ms": 2.0}
CHUNK = 20_000
PASSWORD = "Kumamoto2026Sakurajima"  # noqa: S105 (a throwaway bench account)
SCREENS = ["portal.index", "portal.me", "portal_inbox.index", "portal_events.index", "portal_surveys.index",
           "portal_articles.index", "portal_postings.index", "portal.guide"]


# --- seeding ---------------------------------------------------------------------------------------------------

def _insert(table: Any, rows: list[dict[str, Any]]) -> None:
    from app.extensions import db

    with db.engine.begin() as conn:
        for first in range(0, len(rows), CHUNK):
            conn.execute(table.insert(), rows[first:first + CHUNK])


def _registrants(rng: random.Random, count: int, today: date) -> list[int]:
    from app.codes.models import Code
    from app.demo.data import CODE_MASTERS
    from app.extensions import db
    from app.registrants.models import Registrant, StatusChange
    from app.registrants.normalise import name_key, registrant_search_text

    for kind, entries in CODE_MASTERS.items():
        for order, (code, label, label_en) in enumerate(entries, start=1):
            db.session.add(Code(kind=kind, code=code, label=label, label_en=label_en, sort_order=order))
    db.session.commit()
    regions = [c.id for c in db.session.query(Code).filter(Code.kind == "region")]
    db.session.rollback()
    start = datetime.combine(today, datetime.min.time()) - timedelta(days=730)
    people, changes = [], []
    started = time.perf_counter()
    for n in range(count):
        registered = start + timedelta(minutes=rng.randrange(0, 729 * 24 * 60))
        status = rng.choice(["active"] * 8 + ["expired", "withdrawn"])
        people.append({"id": n + 1, "source": "demo", "family_name": "長崎", "given_name": f"花子{n}",
                       "family_name_kana": "ナガサキ", "given_name_kana": "ハナコ", "name_key": name_key("長崎", f"花子{n}"),
                       "search_text": registrant_search_text("長崎", f"花子{n}", "ナガサキ", "ハナコ"),
                       "email": f"bench{n + 1:06d}@example.com", "phone": "000-0000-0000",
                       "region_id": rng.choice(regions), "status": status, "registered_at": registered,
                       "valid_until": date(2027, 3, 31), "mail_consent": True, "data_use_consent": True,
                       "updated_at": registered, "failed_login_count": 0})
        if rng.random() < 0.3:
            changes.append({"registrant_id": n + 1, "from_status": "active", "to_status": "active",
                            "reason": "renewed", "changed_at": registered + timedelta(days=rng.randrange(1, 400))})
        if status == "expired":
            changes.append({"registrant_id": n + 1, "from_status": "active", "to_status": "expired",
                            "reason": "fiscal_year_end", "changed_at": registered + timedelta(days=rng.randrange(1, 400))})
        if (n + 1) % 2000 == 0 or n + 1 == count:
            progress("registrants", n + 1, count, started)
    _insert(Registrant.__table__, people)
    _insert(StatusChange.__table__, changes)
    return [p["id"] for p in people if p["status"] == "active"]


def _page_views(rng: random.Random, total: int, people: list[int], articles: list[int], today: date) -> None:
    """`total` views over the 365 days up to and including today; a few hundred registrants a day, some often."""
    from app.analytics.models import PageView
    from app.core.timeutil import tokyo_day_start_utc

    table = PageView.__table__
    regulars = people[: max(1, len(people) // 10)]
    per_day = max(1, total // 365)
    started, done = time.perf_counter(), 0
    rows: list[dict[str, Any]] = []
    for back in range(364, -1, -1):
        day = today - timedelta(days=back)
        midnight = tokyo_day_start_utc(day)
        budget = per_day if back else min(per_day, 200)  # today: only the morning so far
        while budget > 0:
            who = rng.choice(regulars) if rng.random() < 0.5 else rng.choice(people)
            moment = midnight + timedelta(seconds=rng.randrange(6 * 3600, 23 * 3600))
            rows.append({"viewed_at": moment, "endpoint": "auth.login", "subject_id": None, "registrant_id": who})
            pages = min(budget - 1, rng.randint(4, 12))
            for _n in range(pages):
                moment += timedelta(seconds=rng.randint(5, 120))
                if rng.random() < 0.25:
                    rows.append({"viewed_at": moment, "endpoint": "portal_articles.show",
                                 "subject_id": rng.choice(articles), "registrant_id": who})
                else:
                    rows.append({"viewed_at": moment, "endpoint": rng.choice(SCREENS), "subject_id": None,
                                 "registrant_id": who})
            budget -= 1 + pages
            if len(rows) >= CHUNK:
                _insert(table, rows)
                done += len(rows)
                rows = []
                progress("page views", min(done, total), total, started)
    _insert(table, rows)
    done += len(rows)
    progress("page views", total, total, started)


def _network(rng: random.Random, people: list[int], today: date) -> list[int]:
    """Articles, bulk messages with reads, outbox mails with bounces, surveys, ratings and events."""
    import sqlalchemy as sa

    from app.articles.models import Article
    from app.core.timeutil import tokyo_day_start_utc
    from app.events.models import Event, EventRsvp
    from app.extensions import db
    from app.inbox.models import Message, MessageRecipient
    from app.mail.models import OutboxMessage
    from app.surveys.models import Survey, SurveyAnswer, SurveyQuestion, SurveyResponse

    def moment(days_back: int) -> datetime:
        return tokyo_day_start_utc(today - timedelta(days=days_back)) + timedelta(hours=10)

    started = time.perf_counter()
    articles = [Article(title=f"記事 {n}", body_markdown="本文", body_html="<p>本文</p>", publish_at=moment(n * 7))
                for n in range(50)]
    messages = [Message(subject=f"お知らせ {n}", body="本文", audience="all_active", recipient_count=2000,
                        sent_at=moment(n * 15)) for n in range(24)]
    surveys = [Survey(title=f"アンケート {n}", audience="all_active", published_at=moment(n * 60 + 5),
                      closes_at=moment(n * 60 - 20)) for n in range(6)]
    rating = Survey(kind="satisfaction", title="満足度", audience="all_active", published_at=moment(364))
    events = [Event(title=f"交流会 {n}", description="説明", starts_at=moment(n * 15 + 3), capacity=40,
                    published_at=moment(n * 15 + 40)) for n in range(24)]
    db.session.add_all([*articles, *messages, *surveys, rating, *events])
    db.session.flush()
    question = SurveyQuestion(survey_id=rating.id, kind="rating", prompt="満足度")
    db.session.add(question)
    db.session.commit()
    recipients, outbox, responses, rsvps = [], [], [], []
    for n, message in enumerate(messages):
        for who in rng.sample(people, min(2000, len(people))):
            read = moment(n * 15) + timedelta(hours=rng.randrange(1, 200)) if rng.random() < 0.6 else None
            recipients.append({"message_id": message.id, "registrant_id": who, "emailed": True, "read_at": read})
            outbox.append({"category": "campaign", "registrant_id": who, "to_address": f"r{who}@example.com",
                           "subject": message.subject, "body_text": "本文", "status": "sent", "attempts": 1,
                           "not_before": moment(n * 15), "created_at": moment(n * 15), "sent_at": moment(n * 15),
                           "bounced_at": moment(n * 15) + timedelta(hours=1) if rng.random() < 0.01 else None})
    for n, survey in enumerate(surveys):
        for who in rng.sample(people, min(1500, len(people))):
            responses.append({"survey_id": survey.id, "registrant_id": who, "submitted_at": moment(n * 60),
                              "updated_at": moment(n * 60)})
    for event in events:
        for who in rng.sample(people, min(45, len(people))):
            rsvps.append({"event_id": event.id, "registrant_id": who, "status": rng.choice(["going"] * 8 + ["waitlist"]),
                          "responded_at": event.starts_at - timedelta(days=5), "updated_at": event.starts_at,
                          "attended": rng.random() < 0.8})
    _insert(MessageRecipient.__table__, recipients)
    _insert(OutboxMessage.__table__, outbox)
    _insert(SurveyResponse.__table__, responses)
    _insert(EventRsvp.__table__, rsvps)
    raters = rng.sample(people, min(3000, len(people)))
    _insert(SurveyResponse.__table__, [{"survey_id": rating.id, "registrant_id": who,
                                        "submitted_at": moment(rng.randrange(0, 360)),
                                        "updated_at": moment(rng.randrange(0, 360))} for who in raters])
    ids = list(db.session.scalars(sa.select(SurveyResponse.id).where(SurveyResponse.survey_id == rating.id)))
    _insert(SurveyAnswer.__table__, [{"response_id": rid, "question_id": question.id, "rating": rng.randint(1, 5)}
                                     for rid in ids])
    db.session.rollback()
    progress("articles … events", 1, 1, started, unit="")
    return [a.id for a in articles]


def _seed(registrants: int, views: int) -> dict[str, Any]:
    from app.core.timeutil import tokyo_today
    from app.extensions import db

    rng = random.Random(20261121)
    today = tokyo_today()
    t0 = time.perf_counter()
    people = _registrants(rng, registrants, today)
    articles = _network(rng, people, today)
    _page_views(rng, views, people, articles, today)
    if db.engine.dialect.name != "sqlite":
        with db.engine.begin() as conn:  # fresh index statistics, as a live server would have
            conn.exec_driver_sql("ANALYZE TABLE page_view, registrant, registrant_status_change, message_recipient, "
                                 "outbox_message, survey_response, event_rsvp")
    return {"seed_s": time.perf_counter() - t0, "registrant_id": people[0]}


# --- measuring ---------------------------------------------------------------------------------------------------

def _make_app(url: str, instance: Path, record: bool) -> Any:
    from app import create_app

    app = create_app({"secret_key": "bench-" + "x" * 40, "database_url": url, "auth_log": str(instance / "auth.log"),
                      "analytics_record_page_views": record})
    app.config["TESTING"] = True
    return app


def _login(client: Any, path: str, email: str) -> None:
    page = client.get(path).get_data(as_text=True)
    field = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page)
    token = re.search(r'value="([^"]+)"', field.group(0)) if field else None
    assert token, f"no CSRF token on {path}"
    response = client.post(path, data={"csrf_token": token.group(1), "email": email, "password": PASSWORD})
    assert response.status_code == 302, f"login on {path} failed ({response.status_code})"


def _timed_get(client: Any, url: str) -> float:
    t0 = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - t0
    assert response.status_code == 200, f"{url} -> {response.status_code}"
    response.close()
    return elapsed


def _dashboard(app: Any) -> dict[str, Any]:
    from app import audit
    from app.analytics.rollup import rollup
    from app.extensions import db
    from app.staff.services import create_staff

    with app.app_context():
        create_staff(db.session, app.extensions["tsunagu.settings"], audit.SYSTEM, email="bench-viewer@example.com",
                     display_name="ベンチ 閲覧", role="viewer", password=PASSWORD)
        db.session.commit()
    client = app.test_client()
    _login(client, "/admin/login", "bench-viewer@example.com")
    result = {"cold_s": _timed_get(client, "/admin/analytics/?period=days")}
    with app.app_context():
        t0 = time.perf_counter()
        done = rollup(db.session)
        result["rollup_rest_s"], result["rollup_rest_days"] = time.perf_counter() - t0, len(done.done)
    for period in ("days", "weeks", "months"):
        _timed_get(client, f"/admin/analytics/?period={period}")  # warm-up
        runs = [_timed_get(client, f"/admin/analytics/?period={period}") for _ in range(10)]
        result[f"warm_{period}_s"] = statistics.median(runs)
        result[f"warm_{period}_max_s"] = max(runs)
    return result


def _reports(app: Any) -> dict[str, Any]:
    from app import audit
    from app.analytics import report
    from app.analytics.services import add_months
    from app.core.timeutil import fiscal_year, tokyo_today
    from app.extensions import db

    today = tokyo_today()
    last_month = add_months(today.replace(day=1), -1)
    result = {}
    with app.app_context():
        for key, period in (("monthly", report.monthly_period(last_month)),
                            ("fiscal", report.fiscal_year_period(fiscal_year(last_month)))):
            t0 = time.perf_counter()
            produced = report.produce(db.session, period, audit.SYSTEM, "bench")
            result[f"{key}_s"] = time.perf_counter() - t0
            result[f"{key}_kb"] = produced.writer.size / 1024
            produced.writer.file.close()
    return result


def _view_count(app: Any) -> int:
    import sqlalchemy as sa

    from app.analytics.models import PageView
    from app.extensions import db

    with app.app_context():
        count = int(db.session.scalar(sa.select(sa.func.count()).select_from(PageView)) or 0)
        db.session.remove()
        return count


def _overhead(url: str, instance: Path, requests: int) -> dict[str, Any]:
    """The same logged-in portal page with recording on and off, interleaved."""
    on, off = _make_app(url, instance, True), _make_app(url, instance, False)
    clients = {}
    for key, app in (("on", on), ("off", off)):
        clients[key] = app.test_client()
        _login(clients[key], "/login", "bench000001@example.com")
    page = "/guide"
    before = _view_count(on)
    for _ in range(20):  # warm-up: templates, connections
        _timed_get(clients["on"], page)
        _timed_get(clients["off"], page)
    times: dict[str, list[float]] = {"on": [], "off": []}
    started = time.perf_counter()
    for n in range(requests):
        order = ("on", "off") if n % 2 == 0 else ("off", "on")
        for key in order:
            times[key].append(_timed_get(clients[key], page) * 1000)
        if (n + 1) % 50 == 0 or n + 1 == requests:
            progress("requests (on + off)", n + 1, requests, started)
    from app.extensions import db

    for app in (on, off):
        with app.app_context():
            db.engine.dispose()
    recorded = _view_count(on) - before
    assert recorded == requests + 20, f"recording on wrote {recorded} rows for {requests + 20} requests"
    med_on, med_off = statistics.median(times["on"]), statistics.median(times["off"])
    return {"req_on_ms": med_on, "req_off_ms": med_off, "req_on_p95": percentile(times["on"], 0.95),
            "req_off_p95": percentile(times["off"], 0.95), "overhead_ms": med_on - med_off,
            "overhead_ratio": med_on / med_off}


def run_backend(backend: str, url: str, registrants: int, views: int, requests: int) -> dict[str, Any]:
    import logging

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app.auth.passwords import hash_password
    from app.extensions import db
    from app.registrants.models import Registrant

    instance = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    os.environ["TSUNAGU_INSTANCE_PATH"] = str(instance)
    app = _make_app(url, instance, True)
    try:
        with app.app_context():
            logging.disable(logging.INFO)
            upgrade()
            logging.disable(logging.NOTSET)
            seeded = _seed(registrants, views)
            db.session.execute(sa.update(Registrant).where(Registrant.id == 1).values(
                password_hash=hash_password(PASSWORD), status="active"))
            db.session.commit()
        result = {"backend": backend, **seeded, **_dashboard(app), **_reports(app),
                  **_overhead(url, instance, requests)}
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        return result
    finally:
        shutil.rmtree(instance, ignore_errors=True)


def _report(results: list[dict[str, Any]], registrants: int, views: int, requests: int) -> None:
    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print()
    print(f"{registrants:,} registrants, {views:,} page views over 12 months; {requests:,} portal requests each way")
    print(f"{'backend':<8} {'seed s':>7} {'cold s':>7} {'rollup rest s':>14} {'days':>5} {'warm 30d':>9} "
          f"{'warm 12w':>9} {'warm 12m':>9} {'max warm':>9}")
    for r in results:
        if "error" in r:
            print(f"{r['backend']:<8} {r['error']}")
            continue
        worst = max(r["warm_days_max_s"], r["warm_weeks_max_s"], r["warm_months_max_s"])
        print(f"{r['backend']:<8} {r['seed_s']:>7.1f} {r['cold_s']:>7.2f} {r['rollup_rest_s']:>14.2f} "
              f"{r['rollup_rest_days']:>5} {r['warm_days_s']:>9.3f} {r['warm_weeks_s']:>9.3f} {r['warm_months_s']:>9.3f} "
              f"{worst:>9.3f}  dashboard < {TARGETS['dashboard_s']:.0f} s (warm): "
              f"{mark(max(r['warm_days_s'], r['warm_weeks_s'], r['warm_months_s']) < TARGETS['dashboard_s'])}")
    print()
    print(f"{'backend':<8} {'monthly s':>10} {'KB':>6} {'fiscal-year s':>14} {'KB':>6}")
    for r in results:
        if "error" in r:
            continue
        print(f"{r['backend']:<8} {r['monthly_s']:>10.2f} {r['monthly_kb']:>6.0f} {r['fiscal_s']:>14.2f} "
              f"{r['fiscal_kb']:>6.0f}  monthly report < {TARGETS['report_s']:.0f} s: "
              f"{mark(r['monthly_s'] < TARGETS['report_s'])}")
    print()
    print("recording overhead, GET /guide as a logged-in registrant (ms):")
    print(f"{'backend':<8} {'on p50':>7} {'off p50':>8} {'on p95':>7} {'off p95':>8} {'diff p50':>9} {'on/off':>7}")
    for r in results:
        if "error" in r:
            continue
        print(f"{r['backend']:<8} {r['req_on_ms']:>7.2f} {r['req_off_ms']:>8.2f} {r['req_on_p95']:>7.2f} "
              f"{r['req_off_p95']:>8.2f} {r['overhead_ms']:>9.2f} {r['overhead_ratio']:>6.2f}x  "
              f"overhead < {TARGETS['overhead_ms']:.0f} ms: {mark(r['overhead_ms'] < TARGETS['overhead_ms'])}")
    print("cold = first dashboard request, which also summarises up to 62 missing days; rollup rest = "
          "`flask analytics rollup` for the remaining days; warm = median of 10 renders")
    print(load_line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrants", type=int, default=10_000)
    parser.add_argument("--views", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,mariadb")
    parser.add_argument("--small", action="store_true", help="1,000 registrants, 50,000 views, 300 requests")
    args = parser.parse_args()
    if args.small:
        args.registrants, args.views, args.requests = 1000, 50_000, 300
    os.environ.setdefault("TSUNAGU_INSTANCE_PATH", tempfile.mkdtemp(prefix="tsunagu-bench-"))
    results = run_per_backend(args.backends, f"{args.registrants:,} registrants, {args.views:,} page views",
                              lambda backend, url: run_backend(backend, url, args.registrants, args.views,
                                                               args.requests))
    _report(results, args.registrants, args.views, args.requests)


if __name__ == "__main__":
    main()
