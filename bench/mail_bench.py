"""Benchmark of mail (S-A3): enqueue a campaign to 10,000 registrants through the compose service, then
let the outbox worker deliver N of them to a local SMTP listener (aiosmtpd on 127.0.0.1), against a bare
smtplib loop sending the same N messages to the same listener in the same run.

    .venv/bin/python bench/mail_bench.py [--recipients 10000] [--deliver 2000] [--backends sqlite,mariadb]

Targets (issue 4): enqueue 10,000 < 10 s; the worker delivers >= 50 messages/s. Each backend runs in a
fresh child process with a throwaway database (a SQLite file, a throwaway MariaDB server). Not a test:
it prints figures and never fails a build on time.
"""

from __future__ import annotations

import os
import secrets
import shutil
import smtplib
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

from benchlib import load_line, progress, run_bench

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"enqueue_s": 10.0, "worker_per_s": 50.0}




class CountingHandler:
    """Counts what arrives; parses nothing, so the listener costs both senders the same."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


def _seed(db: Any, recipients: int) -> Any:
    """`recipients` active, consenting registrants (bulk INSERT), a few regions, and one editor."""
    import sqlalchemy as sa

    from app.codes.models import Code
    from app.registrants.models import Registrant
    from app.staff.models import StaffUser

    regions = [Code(kind="region", code=f"R{n}", label=label, sort_order=n)
               for n, label in enumerate(["長崎市", "佐世保市", "五島市", "対馬市", "壱岐市"], start=1)]
    db.session.add_all(regions)
    db.session.flush()
    families, givens = ["山田", "佐藤", "鈴木", "高橋", "田中"], ["花子", "太郎", "一郎", "美咲", "健"]
    rows = [{"family_name": families[n % 5], "given_name": givens[n // 5 % 5], "family_name_kana": "ヤマダ",
             "given_name_kana": "ハナコ", "email": f"bench{n:06d}@example.com", "valid_until": date(2027, 3, 31),
             "region_id": regions[n % 5].id, "status": "active", "mail_consent": True, "data_use_consent": True,
             "source": "demo", "name_key": "", "search_text": ""} for n in range(recipients)]
    db.session.execute(sa.insert(Registrant), rows)
    editor = StaffUser(email="bench-editor@example.com", display_name="ベンチ 担当", role="editor")  # no login
    db.session.add(editor)
    db.session.commit()
    return editor


def worker(backend: str, url: str, recipients: int, deliver: int) -> dict[str, Any]:
    import logging

    import sqlalchemy as sa
    from aiosmtpd.controller import Controller
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.mail.compose import Audience, queue_campaign
    from app.mail.models import OutboxMessage
    from app.mail.services import build_mail, deliver_due
    from tests.support.smtp import _free_port

    instance = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    os.environ["TSUNAGU_INSTANCE_PATH"] = str(instance)
    handler, port = CountingHandler(), _free_port()
    app = create_app({"secret_key": secrets.token_urlsafe(48), "database_url": url,
                      "auth_log": str(instance / "auth.log"), "smtp_host": "127.0.0.1", "smtp_port": port,
                      "mail_rate_per_hour": 10_000_000, "public_base_url": "https://tsunagu.example.jp"})
    result: dict[str, Any] = {"backend": backend, "recipients": recipients, "deliver": deliver}
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with app.app_context():
            logging.disable(logging.INFO)  # alembic's progress lines
            upgrade()
            logging.disable(logging.NOTSET)
            settings = app.extensions["tsunagu.settings"]
            editor = _seed(db, recipients)
            sys.stderr.write(f"  {backend}: {recipients} registrants seeded; enqueueing one campaign…\n")

            started = time.perf_counter()
            campaign = queue_campaign(db.session, settings, editor, Audience(criteria={"statuses": ["active"]}),
                                      "【つなぐ】{{ 姓 }}様 研修会のご案内",
                                      "{{ 氏名 }} 様\n\n{{ 地域 }}で研修会を開催します。\n登録期限: {{ 登録期限 }}\n"
                                      "マイページ: {{ マイページURL }}\n", None, "127.0.0.1")
            db.session.commit()
            result["enqueue_s"] = time.perf_counter() - started
            result["queued"] = campaign.recipient_count
            progress(f"{backend} enqueue", recipients, recipients, started, "rcpt/s")

            started = time.perf_counter()
            sent = 0
            while sent < deliver:
                report = deliver_due(db.session, settings, min(100, deliver - sent))
                sent += report.sent
                progress(f"{backend} worker", sent, deliver, started)
                if not report.claimed:
                    break
            result["worker_s"] = time.perf_counter() - started
            result["worker_sent"] = sent
            result["listener_count_after_worker"] = handler.count

            # the bare floor: the same messages, built once up front, one connection, send_message in a loop
            rows = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.status == "sent")
                                      .order_by(OutboxMessage.id).limit(deliver)).all()
            mails = [build_mail(settings, row) for row in rows]
            before = handler.count
            started = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", port, local_hostname="localhost") as smtp:
                for n, mail in enumerate(mails, start=1):
                    smtp.send_message(mail)
                    if n % 100 == 0 or n == len(mails):
                        progress(f"{backend} bare smtplib", n, len(mails), started)
            result["bare_s"] = time.perf_counter() - started
            result["bare_sent"] = handler.count - before
            db.session.remove()
            db.engine.dispose()
    finally:
        controller.stop()
        shutil.rmtree(instance, ignore_errors=True)
    return result




def _report(results: list[dict[str, Any]]) -> None:
    print()
    print(f"{'backend':<8} {'queued':>7} {'enqueue s':>9} {'rcpt/s':>7} {'sent':>6} {'worker s':>8} {'msg/s':>7} "
          f"{'bare msg/s':>10} {'worker/bare':>11}  status")
    for r in results:
        if "error" in r:
            print(f"{r['backend']:<8} {r['error']}")
            continue
        worker_rate = r["worker_sent"] / r["worker_s"]
        bare_rate = r["bare_sent"] / r["bare_s"]
        ok = (r["enqueue_s"] < TARGETS["enqueue_s"] and worker_rate >= TARGETS["worker_per_s"]
              and r["queued"] == r["recipients"] and r["worker_sent"] == r["deliver"]
              and r["listener_count_after_worker"] == r["deliver"])
        print(f"{r['backend']:<8} {r['queued']:>7} {r['enqueue_s']:>9.2f} {r['queued'] / r['enqueue_s']:>7.0f} "
              f"{r['worker_sent']:>6} {r['worker_s']:>8.2f} {worker_rate:>7.0f} {bare_rate:>10.0f} "
              f"{worker_rate / bare_rate:>10.2f}x  {'targets met' if ok else 'TARGET MISSED'}")
    print(f"targets: enqueue {TARGETS['enqueue_s']:.0f} s for 10,000 recipients, worker >= "
          f"{TARGETS['worker_per_s']:.0f} msg/s; worker/bare = the worker's rate as a share of a bare smtplib loop")
    print(f"{load_line()} "
          "(other work on the machine slows the wall-clock figures)")



if __name__ == "__main__":
    run_bench(__file__, __doc__, {"recipients": 10_000, "deliver": 2_000}, worker, _report)
