"""Broken-setting experiment: converge the molecule guests with deliberately wrong role variables and show
that testinfra turns their controls red (issue 8). The guests are restored by a converge with the real settings.

    python -m security.broken_settings [--keep-broken]

Needs converged molecule guests (`molecule converge`, or `molecule test --destroy=never`). Writes
build/audit/broken-settings/{infra.xml,result.json} and prints one line per setting; exit 0 only when every
setting turned every control it names red (and the guests were restored).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from security.report import CATALOG, judge_control, read_junit

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path(__file__).with_name("broken-settings.yaml")
OUT = ROOT / "build" / "audit" / "broken-settings"


def load(path: Path = SPEC) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["settings"]


def combined_extra_vars(settings: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for setting in settings:
        clash = merged.keys() & setting["extra_vars"].keys()
        if clash:
            raise ValueError(f"{setting['id']}: {', '.join(sorted(clash))} already set by another setting")
        merged |= setting["extra_vars"]
    return merged


def molecule(*args: str, junit: str | None = None) -> subprocess.CompletedProcess[str]:
    """molecule of this venv, as `make test-infra` runs it (the venv's ansible first on PATH)."""
    venv_bin = Path(sys.executable).parent
    env = os.environ | {"PATH": f"{venv_bin}:{os.environ.get('PATH', '')}", "CONTAINERS_CONF": str(ROOT / "containers.conf")}
    if junit:
        env["TSUNAGU_INFRA_JUNIT"] = junit
    return subprocess.run([str(venv_bin / "molecule"), *args], cwd=ROOT, env=env,  # noqa: S603 (fixed argv)
                          capture_output=True, text=True, check=False)


def step(label: str, done: subprocess.CompletedProcess[str], started: float) -> None:
    print(f"  {label}: exit {done.returncode} in {time.monotonic() - started:.0f} s", flush=True)


def verdicts(settings: list[dict[str, Any]], junit: Path) -> list[dict[str, Any]]:
    """Each setting's expected controls judged from the testinfra run, as the auditor's report would."""
    controls = {control["id"]: control for control in yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["controls"]}
    _, cases = read_junit(junit)
    rows = []
    for setting in settings:
        judged = [judge_control(controls[control_id], cases, set()) for control_id in setting["expect_red"]]
        failing = [check.check for result in judged for check in result.checks if check.status == "fail"]
        rows.append({"id": setting["id"], "removed": setting["removed"], "extra_vars": setting["extra_vars"],
                     "controls": {result.id: result.status for result in judged}, "failing_checks": failing,
                     "red": all(result.status == "fail" for result in judged)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m security.broken_settings", description=__doc__.splitlines()[0])
    parser.add_argument("--keep-broken", action="store_true", help="leave the guests broken (no restoring converge)")
    args = parser.parse_args(argv)
    settings = load()
    OUT.mkdir(parents=True, exist_ok=True)
    junit = OUT / "infra.xml"
    junit.unlink(missing_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as extra:
        yaml.safe_dump(combined_extra_vars(settings), extra)
    print(f"broken settings: {', '.join(setting['id'] for setting in settings)}", flush=True)
    started = time.monotonic()
    broken = molecule("converge", "--", "-e", f"@{extra.name}")
    step("converge with the broken settings", broken, started)
    Path(extra.name).unlink()
    if broken.returncode != 0:
        print(broken.stdout[-3000:], broken.stderr[-2000:], sep="\n")
        return 2
    started = time.monotonic()
    step("testinfra", molecule("verify", junit=str(junit.relative_to(ROOT))), started)
    if not junit.is_file():
        print("testinfra wrote no JUnit file", file=sys.stderr)
        return 2
    rows = verdicts(settings, junit)
    restored = 0
    if not args.keep_broken:
        started = time.monotonic()
        done = molecule("converge")
        step("converge with the real settings (restore)", done, started)
        restored = done.returncode
    for row in rows:
        controls = ", ".join(f"{control} {status}" for control, status in row["controls"].items())
        print(f"{'RED ' if row['red'] else 'MISS'} {row['id']}: {controls} ({len(row['failing_checks'])} checks red)")
    (OUT / "result.json").write_text(json.dumps({"settings": rows, "restored": not args.keep_broken and restored == 0},
                                                ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if all(row["red"] for row in rows) and restored == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
