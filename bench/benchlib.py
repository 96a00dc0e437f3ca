"""What every bench shares: a progress bar on stderr, percentiles, and the databases to run against."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


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


def load_line() -> str:
    """The CPU count and load average, printed with the figures (other work slows wall-clock times)."""
    return f"{os.cpu_count()} CPUs, load average now {' '.join(f'{x:.1f}' for x in os.getloadavg())}"


def run_child(script: str, backend: str, url: str, *options: object) -> dict[str, Any]:
    """Run `script --worker BACKEND --url URL OPTIONS…` in a fresh process; its last stdout line is JSON."""
    command = [sys.executable, script, "--worker", backend, "--url", url, *map(str, options)]
    out = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)  # noqa: S603 (a bench script)
    if out.returncode != 0:
        return {"backend": backend, "error": f"worker exited {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_per_backend(backends: str, describe: str, measure: Callable[[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """`measure(backend, url)` for each comma-separated backend on a throwaway database; a kill cleans up."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    results = []
    with database_urls(backends.split(",")) as databases:
        for backend, url, error in databases:
            print(f"{backend}: {describe}", file=sys.stderr)
            results.append({"backend": backend, "error": error} if url is None else measure(backend, url))
    return results


def run_bench(script: str, doc: str, counts: dict[str, int], worker: Callable[..., dict[str, Any]],
              report: Callable[[list[dict[str, Any]]], None], backends: str = "sqlite,mariadb") -> None:
    """The command line every per-backend bench shares: `--<count> N …` and `--backends`.

    The parent runs `script --worker BACKEND --url URL` in a fresh process per backend with the same counts
    and reports; the child calls `worker(backend, url, *counts)` and prints its figures as JSON.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in counts.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--backends", default=backends)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    values = [getattr(args, name.replace("-", "_")) for name in counts]
    if args.worker:
        print(json.dumps(worker(args.worker, args.url, *values)))
        return
    options = [item for name, value in zip(counts, values, strict=True) for item in (f"--{name}", value)]
    describe = ", ".join(f"{name} {value:,}" for name, value in zip(counts, values, strict=True))
    report(run_per_backend(args.backends, describe,
                           lambda backend, url: run_child(script, backend, url, *options)))
