"""Defence-removal experiments: each IPA web category's defence is removed in a copy of the tree and its checks
must turn red.

    .venv/bin/python -m security.experiments                  # every experiment of security/experiments.yaml
    .venv/bin/python -m security.experiments --only ID        # one (an experiment id or a control id)

Each experiment copies the working tree's tracked files (`git ls-files`) to a temporary directory, applies its
one mutation there and runs its checks (pytest on SQLite, or the bandit gate of security/supply_chain.py).
First the checks run once on an unmutated copy: a check that is already red proves nothing. Writes
build/audit/experiments.json; exit 0 only when every experiment turned red, 1 when one did not (or was
invalid), 2 when an experiment is stale (its text is no longer in the tree). docs/audit.md explains the results.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from defusedxml import ElementTree

from security.report import Case, CheckId, clean, generated_at, git_state, read_junit

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "security" / "experiments.yaml"
OUT = ROOT / "build" / "audit" / "experiments.json"
EXCERPT_LIMIT = 300  # characters of the first failure message kept as evidence
RUN_TIMEOUT = 600  # seconds for one run of an experiment's checks
PYTEST_TESTS_FAILED = 1
PYTEST_EXIT = {0: "all passed", 1: "tests failed", 2: "interrupted (collection errors?)", 3: "internal error",
               4: "usage error (a node id not found?)", 5: "no tests collected"}
# The environment the checks run in: never the developer's "require MariaDB/Chromium" flags (SQLite only here).
DROPPED_ENVIRONMENT = ("TSUNAGU_REQUIRE_MARIADB", "TSUNAGU_REQUIRE_BROWSER", "PYTEST_ADDOPTS")


class StaleExperiment(ValueError):
    """An experiment whose mutation no longer applies to the tree (its text is gone or ambiguous)."""


# --- the experiments -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mutation:
    file: str
    find: str
    replace: str


@dataclass(frozen=True)
class Experiment:
    id: str
    control: str
    ipa: str
    removed: dict[str, str]
    mutation: Mutation
    checks: tuple[str, ...]
    tool: str = "pytest"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experiment:
        return cls(data["id"], data["control"], str(data["ipa"]), dict(data["removed"]), Mutation(**data["mutation"]),
                   tuple(data["checks"]), data.get("tool", "pytest"))


def load(path: Path = SPEC) -> list[Experiment]:
    return [Experiment.from_dict(entry) for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["experiments"]]


def mutation_problem(mutation: Mutation, root: Path) -> str | None:
    """Why the mutation does not apply to the tree at root, or None: its text must occur exactly once."""
    path = root / mutation.file
    if not path.is_file():
        return f"{mutation.file}: no such file"
    count = path.read_text(encoding="utf-8").count(mutation.find)
    if count != 1:
        return f"{mutation.file}: the text to replace occurs {count} times (must be once): {mutation.find.strip()!r}"
    return None


def check_not_stale(experiments: list[Experiment], root: Path = ROOT) -> None:
    problems = [f"{e.id}: {problem}" for e in experiments if (problem := mutation_problem(e.mutation, root))]
    if problems:
        raise StaleExperiment("stale experiments:\n  " + "\n  ".join(problems))


# --- the throw-away tree ---------------------------------------------------------------------------

def tracked_files(root: Path = ROOT) -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)  # noqa: S607
    return [name for name in listed.stdout.decode().split("\0") if name and (root / name).is_file()]


def copy_tree(root: Path, files: list[str], target: Path) -> Path:
    """The working tree's content of the tracked files (uncommitted edits included) under target, with the
    message catalogs compiled as `make translations` does (the .mo files are not tracked)."""
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target / name)
    compile_translations(target)
    return target


def compile_translations(tree: Path) -> None:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (tree / "app" / "translations").glob("*/LC_MESSAGES/messages.po"):
        with po.open("rb") as source, po.with_suffix(".mo").open("wb") as target:
            write_mo(target, read_po(source))


def apply(mutation: Mutation, tree: Path) -> None:
    problem = mutation_problem(mutation, tree)
    if problem:
        raise StaleExperiment(problem)
    path = tree / mutation.file
    path.write_text(path.read_text(encoding="utf-8").replace(mutation.find, mutation.replace), encoding="utf-8")


def syntax_problem(tree: Path, name: str) -> str | None:
    """A mutated Python file that no longer compiles makes every check error, not red: say so instead."""
    if not name.endswith(".py"):
        return None
    try:
        compile((tree / name).read_text(encoding="utf-8"), name, "exec")
    except SyntaxError as error:
        return f"the mutated {name} does not compile: {error}"
    return None


# --- running the checks ----------------------------------------------------------------------------

@dataclass
class CheckOutcome:
    """One check of an experiment: red when a case of it failed (an assertion noticed the missing defence)."""

    check: str
    status: str  # red, green, error, not-run
    failing: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class Run:
    exit_code: int | None
    checks: list[CheckOutcome]
    problem: str = ""
    output: str = ""


def failure_messages(junit: Path) -> dict[tuple[str, str], str]:
    """The short message of each failed or errored case (the assertion, without the traceback JUnit adds)."""
    messages = {}
    for testcase in ElementTree.parse(junit).getroot().iter("testcase"):
        for tag in ("failure", "error"):
            found = testcase.find(tag)
            if found is not None:
                messages[testcase.get("classname", ""), testcase.get("name", "")] = found.get("message") or ""
    return messages


def judge_check(check: str, cases: list[Case], messages: dict[tuple[str, str], str] | None = None) -> CheckOutcome:
    cases = [case for case in cases if CheckId.parse(check).matches(case)]
    base = check.partition("[")[0].rsplit("::", 1)[0]
    for outcome, status in (("failed", "red"), ("error", "error")):
        hit = [case for case in cases if case.outcome == outcome]
        if hit:
            first = (messages or {}).get((hit[0].classname, hit[0].name)) or hit[0].message
            return CheckOutcome(check, status, [f"{base}::{case.name}" for case in hit], first)
    return CheckOutcome(check, "green" if any(case.outcome == "passed" for case in cases) else "not-run")


def pytest_command(checks: tuple[str, ...], junit: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not mariadb",
            f"--junitxml={junit}", *checks]


def checks_environment(tree: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in DROPPED_ENVIRONMENT}
    return env | {"PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}


def imported_from(tree: Path) -> str:
    """Where the checks' Python finds the `app` package (the venv's editable install points at the real tree)."""
    done = subprocess.run([sys.executable, "-c", "import app; print(app.__file__)"], cwd=tree,
                          env=checks_environment(tree), capture_output=True, text=True, check=False)
    return done.stdout.strip() or done.stderr.strip()


def run_pytest(tree: Path, checks: tuple[str, ...], command: Callable[..., list[str]] = pytest_command) -> Run:
    junit = tree / "build" / "experiment.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    found = imported_from(tree)
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        return Run(None, [], f"the checks would import app from {found}, not from the mutated copy")
    try:
        done = subprocess.run(command(checks, junit), cwd=tree, env=checks_environment(tree),  # noqa: S603
                              capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return Run(None, [], f"the checks did not finish within {RUN_TIMEOUT} s")
    cases, messages = (read_junit(junit)[1], failure_messages(junit)) if junit.is_file() else ([], {})
    output = clean(done.stdout[-2000:] + done.stderr[-2000:], 4000)
    return Run(done.returncode, [judge_check(check, cases, messages) for check in checks], "", output)


def run_bandit(tree: Path, checks: tuple[str, ...]) -> Run:
    """The bandit gate of `make audit-deps` over the tree's app/: red when it reports each expected test id."""
    from security import supply_chain

    (tree / "build").mkdir(parents=True, exist_ok=True)
    try:
        code = supply_chain.audit_code(tree / "build", tree / "app")
    except (RuntimeError, ValueError, KeyError) as error:
        return Run(None, [], f"bandit did not run: {error}")
    if code.errors:
        return Run(None, [], f"bandit could not scan: {code.errors[0]}")
    outcomes = []
    for check in checks:
        found = [issue for issue in code.findings if issue["test_id"] == check]
        failing = [f"{i['test_id']} {i['filename']}:{i['line_number']}" for i in found]
        outcomes.append(CheckOutcome(check, "red" if found else "green", failing,
                                     found[0]["issue_text"] if found else ""))
    return Run(0 if code.passed else 1, outcomes)


def run_checks(experiment: Experiment, tree: Path) -> Run:
    return run_bandit(tree, experiment.checks) if experiment.tool == "bandit" else run_pytest(tree, experiment.checks)


# --- verdicts --------------------------------------------------------------------------------------

def classify(run: Run) -> tuple[str, str]:
    """red, not-red or invalid, with the reason. Only "tests failed" (exit 1) with every check red is red;
    collection, usage and import errors, timeouts and checks that errored or did not run are invalid."""
    if run.problem:
        return "invalid", run.problem
    if run.exit_code not in (0, PYTEST_TESTS_FAILED):
        return "invalid", f"exit {run.exit_code}: {PYTEST_EXIT.get(run.exit_code, 'unexpected')}"
    unusable = [c.check for c in run.checks if c.status in ("error", "not-run")]
    if unusable:
        return "invalid", "errored or did not run: " + ", ".join(unusable)
    green = [c.check for c in run.checks if c.status == "green"]
    if green or run.exit_code != PYTEST_TESTS_FAILED:
        return "not-red", "stayed green: " + ", ".join(green or [c.check for c in run.checks])
    return "red", f"all {len(run.checks)} checks red"


def baseline_problems(run: Run) -> dict[str, str]:
    """Checks that are not green on the unmutated tree, with why: an experiment using one proves nothing."""
    if run.problem:
        return {check.check: run.problem for check in run.checks} or {"*": run.problem}
    return {c.check: f"{c.status} without the mutation" + (f": {clean(c.message, 120)}" if c.message else "")
            for c in run.checks if c.status != "green"}


def excerpt(message: str) -> str:
    """The first paragraph of a failure message (the assertion and its message, not the traceback)."""
    return clean(clean(message, 10_000).split("\n\n")[0], EXCERPT_LIMIT)


@dataclass
class Result:
    id: str
    control: str
    ipa: str
    tool: str
    removed: dict[str, str]
    file: str
    checks: list[str]
    status: str
    reason: str
    exit_code: int | None
    red_checks: list[str]
    failing_tests: list[str]
    excerpt: str
    seconds: float
    output: str = ""


def result_of(experiment: Experiment, run: Run, seconds: float, baseline: dict[str, str]) -> Result:
    status, reason = classify(run)
    spoilt = [f"{check}: {baseline[check]}" for check in experiment.checks if check in baseline]
    if "*" in baseline or spoilt:
        status, reason = "invalid", "not green on the unmutated tree: " + "; ".join(spoilt or [baseline.get("*", "")])
    red = [c for c in run.checks if c.status == "red"]
    return Result(experiment.id, experiment.control, experiment.ipa, experiment.tool, experiment.removed,
                  experiment.mutation.file, list(experiment.checks), status, reason, run.exit_code,
                  [c.check for c in red], [test for c in red for test in c.failing],
                  excerpt(red[0].message) if red else "", round(seconds, 1),
                  "" if status == "red" else run.output)


def run_experiment(experiment: Experiment, root: Path, files: list[str], baseline: dict[str, str],
                   keep: bool = False) -> Result:
    started = time.monotonic()
    tree = Path(tempfile.mkdtemp(prefix=f"tsunagu-experiment-{experiment.id}-"))
    try:
        copy_tree(root, files, tree)
        apply(experiment.mutation, tree)
        problem = syntax_problem(tree, experiment.mutation.file)
        run = Run(None, [], problem) if problem else run_checks(experiment, tree)
        return result_of(experiment, run, time.monotonic() - started, baseline)
    finally:
        if keep:
            print(f"      kept {tree}", flush=True)
        else:
            shutil.rmtree(tree, ignore_errors=True)


def run_baseline(experiments: list[Experiment], root: Path, files: list[str]) -> dict[str, str]:
    """Every check of the experiments on an unmutated copy (one pytest run, one bandit run)."""
    problems: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="tsunagu-experiment-baseline-") as name:
        tree = copy_tree(root, files, Path(name))
        for tool, runner in (("pytest", run_pytest), ("bandit", run_bandit)):
            checks = tuple(dict.fromkeys(c for e in experiments if e.tool == tool for c in e.checks))
            if checks:
                run = runner(tree, checks)
                if tool == "pytest" and run.exit_code not in (0, PYTEST_TESTS_FAILED) and not run.problem:
                    run.problem = f"pytest exit {run.exit_code}: {PYTEST_EXIT.get(run.exit_code, 'unexpected')}"
                problems |= baseline_problems(run)
    return problems


# --- the run ---------------------------------------------------------------------------------------

def select(experiments: list[Experiment], only: list[str]) -> list[Experiment]:
    if not only:
        return experiments
    chosen = [e for e in experiments if e.id in only or e.control in only]
    unknown = set(only) - {e.id for e in chosen} - {e.control for e in chosen}
    if unknown:
        raise KeyError(", ".join(sorted(unknown)))
    return chosen


def summary_json(results: list[Result], seconds: float, baseline_seconds: float | None) -> dict[str, Any]:
    return {
        "generated_at": generated_at().isoformat(),
        "git": git_state(),
        "status": "pass" if results and all(r.status == "red" for r in results) else "fail",
        "seconds": round(seconds, 1),
        "baseline_seconds": None if baseline_seconds is None else round(baseline_seconds, 1),
        "experiments": [asdict(result) for result in results],
    }


def progress_line(number: int, total: int, experiment: Experiment) -> str:
    return f"[{number:>2}/{total}] {experiment.id:<36} {experiment.control:<16}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m security.experiments", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="ID",
                        help="run this experiment (an experiment id or a control id); repeat for more")
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run of the checks on the unmutated tree (faster; an already red check then "
                             "counts as red)")
    parser.add_argument("--keep", action="store_true", help="keep each mutated tree and print where it is")
    args = parser.parse_args(argv)
    experiments = load(args.spec)
    try:
        check_not_stale(experiments)
        chosen = select(experiments, args.only)
    except StaleExperiment as error:
        print(f"experiments: {error}", file=sys.stderr)
        return 2
    except KeyError as error:
        parser.error(f"--only: no such experiment or control: {error.args[0]}")
    started = time.monotonic()
    files = tracked_files()
    baseline: dict[str, str] = {}
    baseline_seconds = None
    if not args.no_baseline:
        print(f"experiments: the checks of {len(chosen)} experiments on the unmutated tree ...", flush=True)
        baseline = run_baseline(chosen, ROOT, files)
        baseline_seconds = time.monotonic() - started
        for check, problem in baseline.items():
            print(f"  NOT GREEN {check}: {problem}")
        print(f"experiments: baseline done ({baseline_seconds:.1f} s)", flush=True)
    results = []
    for number, experiment in enumerate(chosen, start=1):
        print(progress_line(number, len(chosen), experiment), end=" ", flush=True)
        result = run_experiment(experiment, ROOT, files, baseline, keep=args.keep)
        results.append(result)
        print(f"{result.status.upper():<8} {len(result.red_checks)}/{len(result.checks)} red  {result.seconds:5.1f} s"
              + ("" if result.status == "red" else f"  {result.reason}"), flush=True)
    verdict = summary_json(results, time.monotonic() - started, baseline_seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(verdict, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    red = sum(result.status == "red" for result in results)
    print(f"experiments: {verdict['status'].upper()}: {red} of {len(results)} turned red "
          f"({verdict['seconds']:.0f} s); {args.out}")
    return 0 if verdict["status"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
