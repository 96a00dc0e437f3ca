"""Benchmark of the new-posting notices (issue 5): 100,000 registrants and 1,000 open postings on a throwaway
MariaDB, then `run_notices` (what `flask mail posting-notices` runs): total time, mails queued, and the
peak RSS growth while it runs (sampled every 20 ms) with the RSS at each tenth of the registrants walked,
which stays flat when memory is bounded. The floor, measured in the same run, is the dry run: the same
recipient queries (every due posting against a slice of the reachable registrants at a time), only counted,
nothing written. A second run then shows idempotency (nothing queued twice).

    .venv/bin/python bench/notify_bench.py [--registrants 100000] [--postings 1000] [--backends mariadb]

Target: the batch for 1,000 postings < 5 minutes with bounded memory. Each backend runs in a fresh child
process with a throwaway database. Not a test: it prints figures and never fails a build on time.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchlib import load_line, progress, run_bench

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 300.0


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """Samples the resident set size in a thread while the batch runs."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval, self.peak, self._stop = interval, rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def worker(backend: str, url: str, registrants: int, postings: int) -> dict[str, Any]:
    import gc
    import logging

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.mail.models import OutboxMessage
    from app.mail.posting_notices import run_notices
    from app.postings.models import PostingNotice
    from bench.matching_seed import seed_matching

    instance = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    os.environ["TSUNAGU_INSTANCE_PATH"] = str(instance)
    app = create_app({"secret_key": secrets.token_urlsafe(48), "database_url": url,
                      "auth_log": str(instance / "auth.log"), "public_base_url": "https://tsunagu.example.jp",
                      "mail_from": "tsunagu@pref.example.jp"})
    result: dict[str, Any] = {"backend": backend, "registrants": registrants, "postings": postings}
    try:
        with app.app_context():
            logging.disable(logging.INFO)  # alembic's progress lines
            upgrade()
            logging.disable(logging.NOTSET)
            settings = app.extensions["tsunagu.settings"]
            started = time.perf_counter()
            seed_matching(db.engine, registrants, postings)
            result["seed_s"] = time.perf_counter() - started

            started = time.perf_counter()

            def dry_progress(step: str, done: int, total: int) -> None:
                progress(f"{backend} dry run {step}", done, total, started, "/s")

            dry = run_notices(db.session, settings, dry_run=True, progress=dry_progress)
            result["dry_s"] = time.perf_counter() - started
            result["would_notice"] = dry.notices
            db.session.remove()

            gc.collect()
            result["rss_before_mb"] = rss_mb()
            checkpoints: list[float] = []
            started = time.perf_counter()

            steps: dict[str, float] = {}

            def run_progress(step: str, done: int, total: int) -> None:
                steps.setdefault(step, time.perf_counter())
                if done * 10 // max(total, 1) > len(checkpoints) - (10 if step == "registrants" else 0):
                    checkpoints.append(round(rss_mb(), 1))
                progress(f"{backend} {step}", done, total, steps[step], "/s")

            with PeakRss() as peak:
                report = run_notices(db.session, settings, progress=run_progress)
            result["run_s"] = time.perf_counter() - started
            result["notices_s"] = steps.get("registrants", time.perf_counter()) - started
            result["queued"] = report.queued
            result["notices"] = report.notices
            result["notified"] = report.notified
            result["rss_peak_growth_mb"] = peak.peak - result["rss_before_mb"]
            result["rss_checkpoints_mb"] = checkpoints
            db.session.remove()

            started = time.perf_counter()
            again = run_notices(db.session, settings)
            result["rerun_s"] = time.perf_counter() - started
            result["rerun_queued"] = again.queued
            result["outbox_rows"] = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
            result["notice_rows"] = db.session.scalar(sa.select(sa.func.count()).select_from(PostingNotice))
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return result




def _report(results: list[dict[str, Any]]) -> None:
    print()
    print(f"{'backend':<8} {'regs':>7} {'posts':>5} {'mails':>7} {'notices':>8} {'run s':>7} {'floor s':>7} "
          f"{'run/floor':>9} {'RSS+ MB':>7} {'rerun':>6}  status")
    for r in results:
        if "error" in r:
            print(f"{r['backend']:<8} {r['error']}")
            continue
        ok = (r["run_s"] < TARGET_S * r["postings"] / 1000
              and r["notices"] == r["would_notice"] == r["notice_rows"] and r["rerun_queued"] == 0
              and r["outbox_rows"] == r["queued"] and r["notified"] == r["postings"])
        print(f"{r['backend']:<8} {r['registrants']:>7} {r['postings']:>5} {r['queued']:>7} {r['notices']:>8} "
              f"{r['run_s']:>7.1f} {r['dry_s']:>7.1f} {r['run_s'] / r['dry_s']:>8.2f}x "
              f"{r['rss_peak_growth_mb']:>7.1f} {r['rerun_queued']:>6}  {'targets met' if ok else 'TARGET MISSED'}")
        print(f"         step 1 (notices, INSERT…SELECT per slice of registrants) {r['notices_s']:.1f} s, step 2 (mail) "
              f"{r['run_s'] - r['notices_s']:.1f} s; {r['notices'] / max(r['queued'], 1):.0f} postings per mail on average")
        print(f"         RSS before {r['rss_before_mb']:.1f} MB; at each tenth of step 1, then of step 2: "
              f"{', '.join(f'{x:.1f}' for x in r['rss_checkpoints_mb'])} MB; rerun {r['rerun_s']:.1f} s; "
              f"seeding {r['seed_s']:.0f} s")
    print(f"target: {TARGET_S / 60:.0f} min for 1,000 postings, bounded memory; floor = the dry run (the same "
          "recipient queries, counted, nothing written); rerun = a second run right after (must queue 0)")
    print(f"{load_line()} "
          "(other work on the machine slows the wall-clock figures)")



if __name__ == "__main__":
    run_bench(__file__, __doc__, {"registrants": 100_000, "postings": 1_000}, worker, _report, backends="mariadb")
