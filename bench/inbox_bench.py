"""Benchmark of bulk messages (N6): deliver to 10,000 registrants' inboxes, with and without the e-mail
notice, and the reads a page makes: the menu's unread COUNT and the staff list's aggregate.

    .venv/bin/python bench/inbox_bench.py [--recipients 10000] [--messages 20] [--backends sqlite,mariadb]

Figures, each against a floor measured in the same run:
- inbox send: one INSERT … SELECT for all recipients, against a bare COUNT over the same audience;
- send with e-mail: the inbox send plus the notice campaign, against queue_campaign alone for the same
  audience (so the ratio is what the inbox adds to a mail campaign);
- unread COUNT (every portal page for a logged-in registrant) median, against a bare `SELECT 1` round trip;
- the staff list (recipients, reads, e-mails per message in SQL) with `--messages` messages delivered.
Targets: inbox send < 2 s, send with e-mail < 10 s (the campaign target of issue 4), unread COUNT < 2 ms
median, staff list < 1 s. Each backend runs in a fresh child process with a throwaway database. Not a test:
it prints figures and never fails a build on time.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import load_line, progress, run_bench

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"inbox_s": 2.0, "with_mail_s": 10.0, "unread_ms": 2.0, "admin_list_s": 1.0}
COUNT_SAMPLES = 1000


def _timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def worker(backend: str, url: str, recipients: int, messages: int) -> dict[str, Any]:
    import logging

    import sqlalchemy as sa
    from flask_migrate import upgrade
    from mail_bench import _seed

    from app import create_app
    from app.extensions import db
    from app.inbox import services
    from app.mail import compose
    from app.registrants.models import Registrant

    instance = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    os.environ["TSUNAGU_INSTANCE_PATH"] = str(instance)
    app = create_app({"secret_key": secrets.token_urlsafe(48), "database_url": url,
                      "auth_log": str(instance / "auth.log"), "public_base_url": "https://tsunagu.example.jp"})
    result: dict[str, Any] = {"backend": backend, "recipients": recipients, "messages": messages}
    try:
        with app.app_context():
            logging.disable(logging.INFO)  # alembic's progress lines
            upgrade()
            logging.disable(logging.NOTSET)
            settings = app.extensions["tsunagu.settings"]
            editor = _seed(db, recipients)
            target = services.Target(services.ALL_ACTIVE)
            sys.stderr.write(f"  {backend}: {recipients} registrants seeded\n")

            result["count_floor_s"], _ = _timed(lambda: db.session.scalar(
                sa.select(sa.func.count()).select_from(Registrant).where(target.condition(db.session, editor))))
            result["inbox_s"], message = _timed(lambda: services.send_bulk(
                db.session, settings, editor, target, "お知らせ", "本文です。", email=False))
            db.session.commit()
            result["delivered"] = message.recipient_count
            progress(f"{backend} inbox send", recipients, recipients, time.perf_counter() - result["inbox_s"], "rcpt/s")

            result["campaign_floor_s"], _ = _timed(lambda: compose.queue_campaign(
                db.session, settings, editor, target.mail_audience(), "【つなぐ】お知らせ", "{{ 氏名 }} 様\n\n本文\n",
                None, "127.0.0.1"))
            db.session.rollback()  # the floor's campaign is not kept
            result["with_mail_s"], mailed = _timed(lambda: services.send_bulk(
                db.session, settings, editor, target, "研修のご案内", "本文です。", email=True, ip="127.0.0.1"))
            db.session.commit()
            result["emailed"] = services.read_state(db.session, mailed.id).emailed
            progress(f"{backend} send with mail", recipients, recipients,
                     time.perf_counter() - result["with_mail_s"], "rcpt/s")

            started = time.perf_counter()
            for n in range(2, messages):
                services.send_bulk(db.session, settings, editor, target, f"お知らせ{n}", "本文です。", email=False)
                db.session.commit()
                progress(f"{backend} more messages", n + 1, messages, started, "msg/s")
            ids = list(db.session.scalars(sa.select(Registrant.id)))
            rng = random.Random(6)
            db.session.execute(sa.text("UPDATE message_recipient SET read_at = CURRENT_TIMESTAMP "
                                       "WHERE registrant_id % 3 = 0"))
            db.session.commit()

            counts, floors = [], []
            started = time.perf_counter()
            for n in range(COUNT_SAMPLES):
                registrant_id = rng.choice(ids)
                floors.append(_timed(lambda: db.session.execute(sa.text("SELECT 1")).scalar())[0])
                counts.append(_timed(lambda rid=registrant_id: services.unread_count(db.session, rid))[0])
                if (n + 1) % 100 == 0:
                    progress(f"{backend} unread COUNT", n + 1, COUNT_SAMPLES, started, "q/s")
            result["unread_ms"] = statistics.median(counts) * 1000
            result["select1_ms"] = statistics.median(floors) * 1000
            result["admin_list_s"], page = _timed(lambda: services.admin_page(db.session, 1))
            result["admin_rows"] = len(page.items)
            result["recipient_rows"] = db.session.scalar(sa.text("SELECT COUNT(*) FROM message_recipient"))
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return result


def _report(results: list[dict[str, Any]]) -> None:
    print()
    print(f"{'backend':<8} {'inbox s':>7} {'count s':>7} {'mail+inbox s':>12} {'mail only s':>11} {'ratio':>6} "
          f"{'emailed':>7} {'unread ms':>9} {'SELECT 1 ms':>11} {'list s':>6} {'rows':>8}  status")
    for r in results:
        if "error" in r:
            print(f"{r['backend']:<8} {r['error']}")
            continue
        ok = (r["inbox_s"] < TARGETS["inbox_s"] and r["with_mail_s"] < TARGETS["with_mail_s"]
              and r["unread_ms"] < TARGETS["unread_ms"] and r["admin_list_s"] < TARGETS["admin_list_s"]
              and r["delivered"] == r["recipients"] and r["emailed"] == r["recipients"])
        print(f"{r['backend']:<8} {r['inbox_s']:>7.2f} {r['count_floor_s']:>7.3f} {r['with_mail_s']:>12.2f} "
              f"{r['campaign_floor_s']:>11.2f} {r['with_mail_s'] / r['campaign_floor_s']:>5.2f}x {r['emailed']:>7} "
              f"{r['unread_ms']:>9.3f} {r['select1_ms']:>11.3f} {r['admin_list_s']:>6.3f} {r['recipient_rows']:>8}  "
              f"{'targets met' if ok else 'TARGET MISSED'}")
    print(f"targets: inbox send < {TARGETS['inbox_s']:.0f} s and with e-mail < {TARGETS['with_mail_s']:.0f} s for "
          f"10,000 recipients, unread COUNT < {TARGETS['unread_ms']:.0f} ms median, staff list < "
          f"{TARGETS['admin_list_s']:.0f} s; ratio = send with e-mail / queue_campaign alone")
    print(f"{load_line()} (other work on the machine slows the wall-clock figures)")



if __name__ == "__main__":
    run_bench(__file__, __doc__, {"recipients": 10_000, "messages": 20}, worker, _report)
