"""Supply-chain checks: the locked runtime dependencies against PyPI's vulnerability data, app/ against bandit.

    .venv/bin/python -m security.supply_chain            # both checks (make audit-deps); exit 1 on a failure
    .venv/bin/python -m security.supply_chain lock       # re-resolve requirements.lock from pyproject.toml
    .venv/bin/python -m security.supply_chain lock --upgrade-package jinja2

Writes build/audit/pip-audit.json and build/audit/bandit.json (the tools' own output) and
build/audit/supply-chain.json (the verdict: findings, accepted exceptions, nosec annotations).
What is checked and how to accept a vulnerability for a while: docs/supply-chain.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from importlib.metadata import version as installed_version
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.core.timeutil import tokyo_today

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
EXCEPTIONS = ROOT / "security" / "vulnerability-exceptions.yaml"
CODE = ROOT / "app"
PIP_TOOLS = "pip-tools>=7.5,<8"
LOCK_COMMAND = ".venv/bin/python -m security.supply_chain lock"
PYPI_PROJECT_API = "https://pypi.org/pypi/{name}/json"
SEVERITY = {"UNDEFINED": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}
GATE = SEVERITY["MEDIUM"]  # bandit fails on medium or high severity with medium or high confidence
NOSEC = re.compile(r"#\s*nosec\b:?(?P<ids>[^#]*)")
NOSEC_ID = re.compile(r"\bB\d{3}\b")
NOQA = re.compile(r"noqa(?::\s*[A-Z]+\d+(?:\s*,\s*[A-Z]+\d+)*)?")
REASON_MIN_LETTERS = 10
MAX_EXCEPTION_DAYS = 92  # an exception is reviewed at least once a quarter
NOT_AUDITED = "not-audited"  # the finding for a package no vulnerability data could be had for


def _run(command: list[str], **options) -> subprocess.CompletedProcess:
    """One of this module's own fixed command lines (tools of this venv, git): no shell, no user input."""
    return subprocess.run(command, check=False, **options)  # noqa: S603


def _last_line(output: str) -> str:
    """What a failed tool said last (its error, under the traceback)."""
    lines = output.strip().splitlines()
    return lines[-1] if lines else "no output"


# --- the lock ---------------------------------------------------------------------------------------

def locked_pins(lock: Path) -> dict[str, str]:
    """Package name (canonical) -> pinned version, from a pip-compile lock file."""
    pins = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def lock_drift(pyproject: Path, pins: dict[str, str]) -> list[str]:
    """The runtime requirements of pyproject.toml that the lock does not satisfy (it was not refreshed)."""
    declared = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    drift = []
    for requirement in map(Requirement, declared):
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            drift.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            drift.append(f"{requirement} but the lock pins {pinned}")
    return drift


def refresh_lock(pip_compile_args: list[str]) -> int:
    """Re-resolve requirements.lock with pip-compile (its own venv under build/), from PyPI only.

    Existing pins are kept unless pyproject.toml needs otherwise or an --upgrade option asks for it.
    """
    tools = ROOT / "build" / "lock-tools"
    if not (tools / "bin" / "pip-compile").exists():
        print(f"installing {PIP_TOOLS} into {tools.relative_to(ROOT)}", flush=True)
        _run([sys.executable, "-m", "venv", "--clear", str(tools)]).check_returncode()
        _run([str(tools / "bin" / "python"), "-m", "pip", "install", "-q", PIP_TOOLS]).check_returncode()
    # PyPI only: no mirror or find-links from a pip.conf, so the hashes are those of PyPI's files.
    env = {k: v for k, v in os.environ.items() if k not in {"PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"}}
    env |= {"PIP_CONFIG_FILE": os.devnull, "CUSTOM_COMPILE_COMMAND": LOCK_COMMAND}
    with tempfile.TemporaryDirectory() as tmp:  # metadata is built from a copy: the tree stays untouched
        for name in ("pyproject.toml", "README.md", LOCK.name):
            if (ROOT / name).exists():
                shutil.copy2(ROOT / name, tmp)
        command = [str(tools / "bin" / "pip-compile"), "-q", "--generate-hashes", "--strip-extras",
                   "--allow-unsafe", "--no-emit-index-url", "--no-emit-find-links", "-o", LOCK.name,
                   *pip_compile_args, "pyproject.toml"]
        result = _run(command, cwd=tmp, env=env)
        if result.returncode == 0:
            shutil.copy2(Path(tmp) / LOCK.name, LOCK)
            print(f"{LOCK.name}: {len(locked_pins(LOCK))} packages")
        return result.returncode


# --- vulnerabilities ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...] = ()
    fix_versions: tuple[str, ...] = ()
    description: str = ""
    source: str = "pip-audit"


@dataclass(frozen=True)
class Waiver:
    """One entry of security/vulnerability-exceptions.yaml."""

    id: str
    package: str
    reason: str
    expires: date

    def covers(self, finding: Finding) -> bool:
        return (canonicalize_name(self.package) == canonicalize_name(finding.package)
                and self.id in {finding.id, *finding.aliases})


def load_waivers(path: Path) -> list[Waiver]:
    entries = (yaml.safe_load(path.read_text()) or {}).get("exceptions") or []
    waivers, seen = [], set()
    for number, entry in enumerate(entries, start=1):
        missing = [key for key in ("id", "package", "reason", "expires") if not entry.get(key)]
        if missing:
            raise ValueError(f"{path.name} entry {number}: missing {', '.join(missing)}")
        if not isinstance(entry["expires"], date):
            raise ValueError(f"{path.name} entry {number} ({entry['id']}): expires must be a date YYYY-MM-DD")
        if (entry["id"], entry["package"]) in seen:
            raise ValueError(f"{path.name}: {entry['id']} for {entry['package']} is listed twice")
        seen.add((entry["id"], entry["package"]))
        waivers.append(Waiver(str(entry["id"]), str(entry["package"]), str(entry["reason"]).strip(),
                              entry["expires"]))
    return waivers


@dataclass
class Judgement:
    open: list[Finding] = field(default_factory=list)
    accepted: list[tuple[Finding, Waiver]] = field(default_factory=list)
    expired: list[Waiver] = field(default_factory=list)
    too_long: list[Waiver] = field(default_factory=list)
    unused: list[Waiver] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.open and not self.expired and not self.too_long


def judge(findings: Iterable[Finding], waivers: list[Waiver], today: date) -> Judgement:
    """Every finding must be covered by an exception still in force; an expired exception fails by itself."""
    findings = list(findings)
    verdict = Judgement(expired=[w for w in waivers if w.expires < today],
                        too_long=[w for w in waivers if (w.expires - today).days > MAX_EXCEPTION_DAYS])
    in_force = [w for w in waivers if w.expires >= today]
    for finding in findings:
        waiver = next((w for w in in_force if w.covers(finding)), None)
        if waiver:
            verdict.accepted.append((finding, waiver))
        else:
            verdict.open.append(finding)
    verdict.unused = [w for w in in_force if not any(w.covers(f) for f in findings)]
    return verdict


def pip_audit_findings(report: dict) -> tuple[list[Finding], dict[str, str]]:
    """The vulnerabilities in pip-audit's JSON, and the packages it skipped (name -> reason)."""
    findings, skipped = [], {}
    for dependency in report["dependencies"]:
        if "skip_reason" in dependency:
            skipped[dependency["name"]] = dependency["skip_reason"]
            continue
        for vuln in dependency["vulns"]:
            findings.append(Finding(dependency["name"], dependency["version"], vuln["id"],
                                    tuple(vuln.get("aliases", ())), tuple(vuln.get("fix_versions", ())),
                                    vuln.get("description") or ""))
    return findings, skipped


def latest_release_findings(package: str, pinned: str) -> list[Finding]:
    """PyPI's project API lists the vulnerabilities of the latest release only: exact when it is the pinned one.

    For an older pin, or no answer, the result is one `not-audited` finding saying why: it fails like a
    vulnerability unless an exception accepts it for a while.
    """
    request = urllib.request.Request(PYPI_PROJECT_API.format(name=package),  # noqa: S310 (a fixed https URL)
                                     headers={"User-Agent": "tsunagu-supply-chain"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (a fixed https URL)
            project = json.load(response)
    except (urllib.error.URLError, TimeoutError) as error:
        return [Finding(package, pinned, NOT_AUDITED, description=f"PyPI did not answer: {error}",
                        source="pypi-project-api")]
    latest = project["info"]["version"]
    if latest != pinned:
        return [Finding(package, pinned, NOT_AUDITED, description=(
            f"PyPI's per-release API did not answer, and its project API has vulnerability data only for the "
            f"latest release ({latest}); audit where the per-release API answers, or lock the latest release"),
            source="pypi-project-api")]
    findings: list[Finding] = []
    for vuln in project.get("vulnerabilities") or ():
        if vuln.get("withdrawn") or any(vuln["id"] in known.aliases for known in findings):
            continue  # the same advisory under another database's id (PYSEC and GHSA) is one finding
        findings.append(Finding(package, pinned, vuln["id"], tuple(vuln.get("aliases") or ()),
                                tuple(vuln.get("fixed_in") or ()),
                                (vuln.get("summary") or vuln.get("details") or "").replace("\n", " "),
                                "pypi-project-api"))
    return findings


def run_pip_audit(lock: Path, out: Path) -> dict:
    report = out / "pip-audit.json"
    report.unlink(missing_ok=True)
    result = _run(
        [sys.executable, "-m", "pip_audit", "-r", str(lock), "--disable-pip", "--vulnerability-service", "pypi",
         "--format", "json", "--output", str(report), "--progress-spinner", "off", "--timeout", "30"],
        capture_output=True, text=True)
    if not report.exists():
        raise RuntimeError(f"pip-audit failed (exit {result.returncode}): {_last_line(result.stderr)}")
    return json.loads(report.read_text())


@dataclass
class DependencyAudit:
    packages: int
    drift: list[str]
    judgement: Judgement
    fallback: list[str]
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.drift and self.judgement.passed


def audit_dependencies(out: Path, lock: Path = LOCK, exceptions: Path = EXCEPTIONS) -> DependencyAudit:
    started = time.monotonic()
    pins = locked_pins(lock)
    waivers = load_waivers(exceptions)
    findings, skipped = pip_audit_findings(run_pip_audit(lock, out))
    # Where PyPI's per-release JSON API is not served (some mirrors and proxies), pip-audit skips the
    # package and would pass on an audit that did not happen: ask the project API instead.
    with ThreadPoolExecutor(max_workers=8) as pool:
        for more in pool.map(lambda name: latest_release_findings(name, pins[canonicalize_name(name)]), skipped):
            findings += more
    return DependencyAudit(len(pins), lock_drift(PYPROJECT, pins), judge(findings, waivers, tokyo_today()),
                           sorted(skipped), time.monotonic() - started)


# --- the application code -------------------------------------------------------------------------

@dataclass(frozen=True)
class Nosec:
    path: str
    line: int
    ids: tuple[str, ...]
    comment: str

    @property
    def problem(self) -> str | None:
        if not self.ids:
            return "names no test id (write # nosec B608, not a blanket # nosec)"
        rest = NOSEC_ID.sub("", NOQA.sub("", self.comment.replace("nosec", "")))
        if len(re.sub(r"[\W\d_]", "", rest)) < REASON_MIN_LETTERS:
            return "gives no reason (write # nosec B608 # why it is safe)"
        return None


def nosec_comments(root: Path) -> list[Nosec]:
    """Every `# nosec` comment under root (comments only: tokenize, so strings do not count)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            match = NOSEC.search(token.string) if token.type == tokenize.COMMENT else None
            if match:
                found.append(Nosec(str(path.relative_to(root.parent)), token.start[0],
                                   tuple(NOSEC_ID.findall(match["ids"])), token.string))
    return found


def run_bandit(out: Path, target: Path = CODE) -> dict:
    report = out / "bandit.json"
    report.unlink(missing_ok=True)
    result = _run(
        [sys.executable, "-m", "bandit", "-c", str(PYPROJECT), "-r", target.name, "-q",
         "--format", "json", "--output", str(report)],
        cwd=target.parent, capture_output=True, text=True)
    if not report.exists():
        raise RuntimeError(f"bandit failed (exit {result.returncode}): {_last_line(result.stderr)}")
    return json.loads(report.read_text())


def gated(report: dict) -> list[dict]:
    return [issue for issue in report["results"]
            if SEVERITY[issue["issue_severity"]] >= GATE and SEVERITY[issue["issue_confidence"]] >= GATE]


@dataclass
class CodeAudit:
    findings: list[dict]
    low: int
    errors: list[dict]
    nosec: list[Nosec]
    lines: int
    seconds: float

    @property
    def bad_nosec(self) -> list[Nosec]:
        return [n for n in self.nosec if n.problem]

    @property
    def passed(self) -> bool:
        return not self.findings and not self.errors and not self.bad_nosec


def audit_code(out: Path, target: Path = CODE) -> CodeAudit:
    started = time.monotonic()
    report = run_bandit(out, target)
    failing = gated(report)
    return CodeAudit(failing, len(report["results"]) - len(failing), report["errors"], nosec_comments(target),
                     report["metrics"]["_totals"]["loc"], time.monotonic() - started)


# --- the run ------------------------------------------------------------------------------------

def _commit() -> str | None:
    result = _run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip() or None


def _finding_line(finding: Finding) -> str:
    if finding.id == NOT_AUDITED:
        return f"{finding.package} {finding.version}: not audited: {finding.description}"
    fix = f", fixed in {', '.join(finding.fix_versions)}" if finding.fix_versions else ", no fixed release"
    also = f" ({', '.join(finding.aliases)})" if finding.aliases else ""
    return f"{finding.package} {finding.version}: {finding.id}{also}{fix}: {finding.description[:160]}"


def _waiver_json(waiver: Waiver) -> dict:
    return asdict(waiver) | {"expires": waiver.expires.isoformat()}


def print_dependencies(deps: DependencyAudit) -> None:
    verdict = deps.judgement
    findings = verdict.open + [finding for finding, _ in verdict.accepted]
    unaudited = sum(finding.id == NOT_AUDITED for finding in findings)
    print(f"      {deps.packages} locked packages: {len(findings) - unaudited} known vulnerabilities, {unaudited} "
          f"not audited, {len(verdict.accepted)} of these accepted by an exception ({deps.seconds:.1f} s)")
    if deps.fallback:
        print(f"      PyPI's per-release API did not answer for {len(deps.fallback)} packages: checked on its "
              "project API instead (exact for pins that are the latest release)")
    for problem in deps.drift:
        print(f"  FAIL requirements.lock is out of date: {problem} (refresh: {LOCK_COMMAND})")
    for finding in verdict.open:
        print(f"  FAIL {_finding_line(finding)}")
    for waiver in verdict.expired:
        print(f"  FAIL exception {waiver.id} for {waiver.package} expired on {waiver.expires}: "
              f"fix it or renew it in {EXCEPTIONS.relative_to(ROOT)}")
    for waiver in verdict.too_long:
        print(f"  FAIL exception {waiver.id} for {waiver.package} runs to {waiver.expires}: at most "
              f"{MAX_EXCEPTION_DAYS} days ahead, so that it is reviewed again")
    for finding, waiver in verdict.accepted:
        print(f"  accepted until {waiver.expires}: {_finding_line(finding)}")
    for waiver in verdict.unused:
        print(f"  note: exception {waiver.id} for {waiver.package} matches nothing any more: remove it")


def print_code(code: CodeAudit) -> None:
    print(f"      {code.lines} lines, {len(code.findings)} findings of medium+ severity and confidence, "
          f"{code.low} below that, {len(code.nosec)} # nosec ({code.seconds:.1f} s)")
    for issue in code.findings:
        print(f"  FAIL {issue['filename']}:{issue['line_number']}: {issue['test_id']} "
              f"({issue['issue_severity'].lower()}/{issue['issue_confidence'].lower()}): {issue['issue_text']}")
    for error in code.errors:
        print(f"  FAIL bandit could not scan {error['filename']}: {error['reason']}")
    for nosec in code.bad_nosec:
        print(f"  FAIL {nosec.path}:{nosec.line}: # nosec {nosec.problem}")


def verdict_json(deps: DependencyAudit, code: CodeAudit) -> dict:
    verdict = deps.judgement
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "status": "pass" if deps.passed and code.passed else "fail",
        "dependencies": {
            "status": "pass" if deps.passed else "fail",
            "tool": f"pip-audit {installed_version('pip-audit')}",
            "lock": LOCK.name, "packages": deps.packages, "lock_drift": deps.drift,
            "checked_on_project_api": deps.fallback,
            "open": [asdict(f) for f in verdict.open],
            "accepted": [asdict(f) | {"exception": _waiver_json(w)} for f, w in verdict.accepted],
            "expired_exceptions": [_waiver_json(w) for w in verdict.expired],
            "exceptions_too_long": [_waiver_json(w) for w in verdict.too_long],
            "unused_exceptions": [_waiver_json(w) for w in verdict.unused],
            "seconds": round(deps.seconds, 1),
        },
        "code": {
            "status": "pass" if code.passed else "fail",
            "tool": f"bandit {installed_version('bandit')}",
            "target": str(CODE.relative_to(ROOT)), "lines": code.lines,
            "gate": "severity medium or high, confidence medium or high",
            "findings": code.findings, "below_gate": code.low, "errors": code.errors,
            "nosec": [asdict(n) | {"problem": n.problem} for n in code.nosec],
            "seconds": round(code.seconds, 1),
        },
    }


def check(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    print(f"supply chain: pip-audit over {LOCK.name} (PyPI) and bandit over {CODE.relative_to(ROOT)}/ ...",
          flush=True)
    with ThreadPoolExecutor(max_workers=2) as pool:  # one waits on the network, the other on the CPU
        code_run = pool.submit(audit_code, out)
        deps = audit_dependencies(out)
        print(f"[1/2] pip-audit: {LOCK.name} against PyPI's vulnerability data")
        print_dependencies(deps)
        code = code_run.result()
    print(f"[2/2] bandit: {CODE.relative_to(ROOT)}/")
    print_code(code)
    verdict = verdict_json(deps, code)
    (out / "supply-chain.json").write_text(json.dumps(verdict, ensure_ascii=False, indent=2) + "\n")
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"supply chain: {verdict['status'].upper()} (dependencies {verdict['dependencies']['status']}, "
          f"code {verdict['code']['status']}); details in {shown}/")
    return 0 if verdict["status"] == "pass" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m security.supply_chain", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["check", "lock"], default="check")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "audit", help="where the JSON results go")
    args, pip_compile_args = parser.parse_known_args(argv)
    if args.command == "lock":
        return refresh_lock(pip_compile_args)
    if pip_compile_args:
        parser.error(f"unrecognised arguments: {' '.join(pip_compile_args)}")
    try:
        return check(args.out.resolve())
    except (RuntimeError, ValueError) as error:  # a tool that did not run, an invalid exceptions file
        print(f"supply chain: FAIL: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
