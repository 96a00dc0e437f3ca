"""Benchmark of the registrant list exports (S-A8): CSV and xlsx of all 100,000 fictitious registrants on a
throwaway MariaDB, through `export_registrants` (the function behind the download buttons).

    .venv/bin/python bench/export_bench.py [--rows 100000] [--columns name,kana,age,...]

Memory must stay flat: rows are streamed from a server-side cursor and written to a spooled file. The
process RSS is sampled every 10,000 rows and the peak RSS growth over the run is printed; a flat series
(not one growing with the row count) is the point. The floor is a bare loop over the same statement's
rows with `yield_per` (no formatting, no file). Targets (issue 4): CSV < 20 s, xlsx < 60 s.
Not a test: it prints figures and never fails a build on time.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchlib import load_line

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search_bench import progress, seed, throwaway_app

TARGETS = {"csv": 20.0, "xlsx": 60.0}
SAMPLE_EVERY = 10_000
ALL_COLUMNS = "id,name,kana,age,birth_date,email,phone,region,licences,subjects,job_types,school_types,status,registered_at"


def rss_mb() -> float:
    """Resident set size now (not the peak), from /proc."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sampled(rows: Iterator[list[Any]], total: int, label: str, samples: list[tuple[int, float]]) -> Iterator[list[Any]]:
    started = time.perf_counter()
    for n, row in enumerate(rows, start=1):
        yield row
        if n % SAMPLE_EVERY == 0 or n == total:
            samples.append((n, rss_mb()))
            progress(label, n, total, started)


def run_export(fmt: str, columns: list[str], total: int) -> dict[str, Any]:
    from app import audit
    from app.extensions import db
    from app.searches import exports
    from app.searches.services import search_statement

    samples: list[tuple[int, float]] = []
    original = exports.stream_rows

    def stream_with_samples(session: Any, stmt: Any, cols: list[str]) -> Iterator[list[Any]]:
        return sampled(original(session, stmt, cols), total, f"{fmt} export", samples)

    exports.stream_rows = stream_with_samples  # type: ignore[assignment]
    try:
        before_rss, before_peak = rss_mb(), peak_rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        result = exports.export_registrants(db.session, audit.SYSTEM, fmt, stmt=search_statement({}, "id"),
                                            columns=columns, criteria={}, sort="id", selected=None, ip=None)
        db.session.commit()
        elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    finally:
        exports.stream_rows = original  # type: ignore[assignment]
    size = result.writer.size
    result.writer.file.close()
    return {"fmt": fmt, "seconds": elapsed, "cpu": cpu_s, "rows": result.record.row_count, "bytes": size,
            "sha256": result.record.sha256, "rss_before": before_rss, "samples": samples,
            "peak_growth": max(0.0, peak_rss_mb() - before_peak)}


def floor_loop(total: int) -> float:
    """Only reading the rows (ORM objects, server-side cursor): what any export has to pay."""
    from app.extensions import db
    from app.searches.services import search_statement

    started = time.perf_counter()
    count = 0
    for _row in db.session.scalars(search_statement({}, "id").execution_options(yield_per=1000)):
        count += 1
    db.session.rollback()
    assert count == total
    return time.perf_counter() - started


def report(rows: int, columns: list[str], floor_s: float, results: list[dict[str, Any]]) -> None:
    print()
    print(f"registrants: {rows}; columns ({len(columns)}): {','.join(columns)}")
    print(f"floor (read every row, nothing written): {floor_s:.1f} s")
    print(f"{'format':<6} {'rows':>7} {'seconds':>8} {'CPU s':>6} {'MB':>7} {'x floor':>8} {'peak RSS +MB':>12}  target")
    for r in results:
        ok = r["seconds"] < TARGETS[r["fmt"]] and r["rows"] == rows
        print(f"{r['fmt']:<6} {r['rows']:>7} {r['seconds']:>8.1f} {r['cpu']:>6.1f} {r['bytes'] / 1e6:>7.1f} "
              f"{r['seconds'] / floor_s:>7.1f}x {r['peak_growth']:>12.1f}  "
              f"< {TARGETS[r['fmt']]:.0f} s {'met' if ok else 'MISSED'}")
        series = ", ".join(f"{n // 1000}k:{mb - r['rss_before']:+.0f}" for n, mb in r["samples"])
        print(f"{'':<6} RSS growth (MB) by rows written: {series}")
    print(load_line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", default=ALL_COLUMNS)
    parser.add_argument("--formats", default="csv,xlsx")
    args = parser.parse_args()
    import signal

    from app.searches.columns import parse_columns

    columns = parse_columns(args.columns)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # stop the server on kill
    with throwaway_app():
        seed(args.rows)
        floor_s = floor_loop(args.rows)
        results = [run_export(fmt, columns, args.rows) for fmt in args.formats.split(",")]
    report(args.rows, columns, floor_s, results)


if __name__ == "__main__":
    main()
