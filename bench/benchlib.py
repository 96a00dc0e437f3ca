"""What every bench shares: a progress bar on stderr, percentiles, and the databases to run against."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def progress(label: str, done: int, total: int, started: float, unit: str = "/s") -> None:
    """Redraw one progress line: a bar, done/total and the rate so far; ends the line when done."""
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / max(time.perf_counter() - started, 1e-9)
    sys.stderr.write(f"\r  {label:<24} [{'#' * filled}{'.' * (width - filled)}] {done:>7}/{total} {rate:8.0f}{unit}")
    sys.stderr.flush()
    if done >= total:
        sys.stderr.write("\n")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextmanager
def database_urls(backends: list[str]) -> Iterator[Iterator[tuple[str, str | None, str | None]]]:
    """(backend, url, error) for each of sqlite / mariadb: a scratch SQLite file or a throwaway MariaDB.

    A MariaDB that cannot start gives an error string instead of a URL; everything is removed at the end.
    """
    from tests.support.mariadb import MariaDBUnavailable, ThrowawayMariaDB

    scratch = Path(tempfile.mkdtemp(prefix="tsunagu-bench-db-"))
    servers: list[ThrowawayMariaDB] = []

    def each() -> Iterator[tuple[str, str | None, str | None]]:
        for backend in backends:
            if backend == "sqlite":
                yield backend, f"sqlite:///{scratch / 'bench.sqlite3'}", None
            elif backend == "mariadb":
                try:
                    server = ThrowawayMariaDB().start()
                except MariaDBUnavailable as exc:
                    yield backend, None, f"skipped: {exc}"
                    continue
                servers.append(server)
                yield backend, server.create_database("tsunagu_bench"), None
            else:
                raise SystemExit(f"unknown backend {backend}")

    try:
        yield each()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
