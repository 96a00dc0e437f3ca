"""Benchmark of the e-application sync (S1): 10,000 stub records, first sync and a no-change re-run,
on SQLite and on a throwaway MariaDB, against a bare bulk INSERT of the same rows.

    .venv/bin/python bench/sync_bench.py [--records 10000] [--page-size 500] [--backends sqlite,mariadb]

Each backend is measured in a fresh child process (so peak RSS belongs to that backend's run alone); the
stub runs in its own process too. Targets (PRODUCT S1): first sync < 60 s, peak RSS < 300 MB, re-run < 2 s.
Not a test: it prints figures and never fails a build on time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import load_line, progress, run_child, run_per_backend

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"first_s": 60.0, "rss_mb": 300.0, "rerun_s": 2.0}
STUB_TOKEN = os.environ.setdefault("TSUNAGU_BENCH_STUB_TOKEN", secrets.token_urlsafe(24))  # children inherit it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])




# --- the child: one backend -------------------------------------------------------------------------------

def _bulk_insert(engine: Any, rows: list[dict[str, Any]]) -> float:
    """executemany of the same rows into a plain table: the floor any sync is compared to."""
    import sqlalchemy as sa

    meta = sa.MetaData()
    columns = [sa.Column("id", sa.Integer, primary_key=True), sa.Column("external_id", sa.String(64))]
    columns += [sa.Column(name, sa.Text) for name in rows[0] if name != "external_id"]
    table = sa.Table("bench_plain_insert", meta, *columns)
    meta.drop_all(engine)
    meta.create_all(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    elapsed = time.perf_counter() - started
    meta.drop_all(engine)
    return elapsed


def worker(backend: str, url: str, stub_url: str, records: int, page_size: int) -> dict[str, Any]:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from app.codes.models import Code
    from app.demo.data import CODE_MASTERS
    from app.extensions import db
    from app.registrants.models import Registrant
    from app.sync import services

    instance = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    os.environ["TSUNAGU_INSTANCE_PATH"] = str(instance)
    app = create_app({"secret_key": secrets.token_urlsafe(48), "database_url": url,
                      "auth_log": str(instance / "auth.log"), "sync_api_url": stub_url,
                      "sync_api_token": STUB_TOKEN, "sync_page_size": page_size})
    result: dict[str, Any] = {"backend": backend, "records": records}
    with app.app_context():
        import logging

        logging.disable(logging.INFO)  # alembic's progress lines
        upgrade()
        logging.disable(logging.NOTSET)
        for kind, entries in CODE_MASTERS.items():
            for order, (code, label, label_en) in enumerate(entries, start=1):
                db.session.add(Code(kind=kind, code=code, label=label, label_en=label_en, sort_order=order))
        db.session.commit()
        settings = app.extensions["tsunagu.settings"]

        # the same rows the sync will write, flattened, for the bare INSERT
        from app.sync.connector import ApiClient, load_field_map

        client = ApiClient(stub_url, STUB_TOKEN, page_size=1000, timeout=30, max_retries=0)
        field_map = load_field_map()
        flat = []
        for page in client.pages(None):
            for raw in page.records:
                incoming = field_map.to_incoming(raw)
                flat.append({"external_id": incoming.record_id,
                             **{k: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else str(v)
                                for k, v in incoming.fields.items()}})
        names = sorted({key for row in flat for key in row})
        flat = [{name: row.get(name) for name in names} for row in flat]
        result["bulk_insert_s"] = _bulk_insert(db.engine, flat)
        del flat

        started, cpu = time.perf_counter(), time.process_time()
        done = 0

        def on_page(report: services.PageReport) -> None:
            nonlocal done
            done += report.counts["fetched"]
            progress(f"{backend} first sync", min(done, records), records, started)

        run = services.run_sync(db.session, settings, "manual", progress=on_page)
        result["first_s"] = time.perf_counter() - started
        result["first_cpu_s"] = time.process_time() - cpu
        result["first_status"] = run.status
        result["first_error"] = run.error
        result["created"] = run.created
        result["registrants"] = db.session.scalar(sa.select(sa.func.count()).select_from(Registrant))

        started = time.perf_counter()
        rerun = services.run_sync(db.session, settings, "manual")
        result["rerun_s"] = time.perf_counter() - started
        result["rerun_status"] = rerun.status
        result["rerun_fetched"], result["rerun_unchanged"] = rerun.fetched, rerun.unchanged
        result["rerun_changed"] = rerun.created + rerun.updated
        db.session.remove()
        db.engine.dispose()
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(instance, ignore_errors=True)
    return result


# --- the parent: stub, databases, report ----------------------------------------------------------------

STUB_CODE = """
import sys
from app.sync.stub import StubServer, StubState
state = StubState(count=int(sys.argv[1]), seed=20260401, token=sys.argv[3])
server = StubServer(state, port=int(sys.argv[2]))
print("ready", flush=True)
server.server.serve_forever()
"""


def _start_stub(records: int) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    command = [sys.executable, "-c", STUB_CODE, str(records), str(port), STUB_TOKEN]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603 (our own code)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise SystemExit("the stub did not start")
    return proc, f"http://127.0.0.1:{port}"




def _report(results: list[dict[str, Any]]) -> None:
    print()
    print(f"{'backend':<8} {'records':>7} {'first s':>8} {'(CPU s)':>8} {'rec/s':>7} {'re-run s':>8} {'peak RSS MB':>11} "
          f"{'bulk INSERT s':>13} {'sync/INSERT':>11}  status")
    for r in results:
        if "error" in r:
            print(f"{r['backend']:<8} {r['error']}")
            continue
        ok = (r["first_s"] < TARGETS["first_s"] and r["rss_mb"] < TARGETS["rss_mb"]
              and r["rerun_s"] < TARGETS["rerun_s"] and r["first_status"] == r["rerun_status"] == "succeeded"
              and r["registrants"] == r["records"] and r["rerun_changed"] == 0)
        print(f"{r['backend']:<8} {r['records']:>7} {r['first_s']:>8.1f} {r['first_cpu_s']:>8.1f} "
              f"{r['records'] / r['first_s']:>7.0f} "
              f"{r['rerun_s']:>8.2f} {r['rss_mb']:>11.0f} {r['bulk_insert_s']:>13.2f} "
              f"{r['first_s'] / r['bulk_insert_s']:>10.0f}x  {'targets met' if ok else 'TARGET MISSED'}")
        print(f"{'':<8} first run {r['first_status']}: {r['created']} created, {r['registrants']} registrants; "
              f"re-run {r['rerun_status']}: fetched {r['rerun_fetched']}, unchanged {r['rerun_unchanged']}, "
              f"changed {r['rerun_changed']}")
    print(f"targets: first sync < {TARGETS['first_s']:.0f} s, peak RSS < {TARGETS['rss_mb']:.0f} MB, "
          f"re-run < {TARGETS['rerun_s']:.0f} s; (CPU s) is this process only, not the database server")
    print(f"{load_line()} "
          "(other work on the machine slows the wall-clock figures)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--backends", default="sqlite,mariadb")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--stub", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.url, args.stub, args.records, args.page_size)))
        return

    stub, stub_url = _start_stub(args.records)
    try:
        results = run_per_backend(
            args.backends, f"{args.records} records, page size {args.page_size}",
            lambda backend, url: run_child(__file__, backend, url, "--stub", stub_url, "--records", args.records,
                                           "--page-size", args.page_size))
    finally:
        stub.terminate()
        stub.wait(timeout=10)
    _report(results)


if __name__ == "__main__":
    main()
