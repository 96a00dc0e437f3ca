"""The auditor's report: every control of the catalog with its status and the evidence of this run.

    .venv/bin/python -m security.report --junit build/audit/app.xml --junit build/audit/infra.xml \\
        --supply build/audit/supply-chain.json --register build/audit/register.json \\
        [--experiments build/audit/experiments.json] --out build/audit/

Reads security/controls.yaml and the JUnit XML of pytest / testinfra runs; writes index.html and
controls.xlsx. Exit 1 when a control fails, the supply chain fails, a defence-removal experiment did not turn
red, or a cited check did not run (unless --allow-not-run). How a status is decided: docs/audit.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from defusedxml import ElementTree

from app.core.timeutil import TOKYO

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "security" / "controls.yaml"
TEMPLATES = Path(__file__).resolve().parent / "templates"
MESSAGE_LIMIT = 600  # characters of a failure message kept as evidence

# Worst first: a control's row and the summary list them in this order.
STATUSES = ("fail", "not-run", "partial", "gap", "manual", "not-applicable", "pass")
LABELS = {
    "pass": ("合格", "pass"),
    "fail": ("不合格", "fail"),
    "not-run": ("未実施", "not run"),
    "partial": ("一部未対応", "partial"),
    "gap": ("未対応", "gap"),
    "manual": ("手動確認", "manual"),
    "not-applicable": ("対象外", "not applicable"),
}
COLOURS = {"pass": "2E7D32", "fail": "C62828", "not-run": "EF6C00", "partial": "F9A825", "gap": "8D6E63",
           "manual": "1565C0", "not-applicable": "9E9E9E"}
# Defence-removal experiments (security/experiments.py): red is the outcome wanted, so it is shown as a pass.
EXPERIMENT_LABELS = {"red": ("検知", "turned red"), "not-red": ("未検知", "stayed green"), "invalid": ("無効", "invalid")}
EXPERIMENT_COLOURS = {"red": COLOURS["pass"], "not-red": COLOURS["fail"], "invalid": COLOURS["not-run"]}
# terminal colours (pytest's JUnit writes ESC as "#x1B") and characters an xlsx cannot hold
CONTROL_CHARACTERS = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- the JUnit results ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One test case of a JUnit file (pytest --junitxml; testinfra under molecule verify writes the same)."""

    classname: str
    name: str
    outcome: str  # passed, failed, error, skipped
    seconds: float
    message: str
    source: str  # the JUnit file's name
    timestamp: str  # when its suite started


@dataclass(frozen=True)
class Suite:
    source: str
    timestamp: str
    hostname: str
    seconds: float
    counts: dict[str, int]


def clean(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Readable, bounded evidence text: no terminal colours or control characters, cut at `limit`."""
    text = CONTROL_CHARACTERS.sub("", text).strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def _outcome(testcase: Any) -> tuple[str, str]:
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        found = testcase.find(tag)
        if found is not None:
            detail = "\n".join(part for part in (found.get("message"), found.text) if part)
            return outcome, clean(detail)
    return "passed", ""


def local_time(timestamp: str) -> str:
    """A JUnit timestamp in Asia/Tokyo to the second (as written when it is not ISO 8601)."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(TOKYO).isoformat(timespec="seconds")


def read_junit(path: Path) -> tuple[list[Suite], list[Case]]:
    root = ElementTree.parse(path).getroot()
    suites, cases = [], []
    for suite in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
        timestamp = local_time(suite.get("timestamp", ""))
        outcomes = Counter()
        for testcase in suite.iter("testcase"):
            outcome, message = _outcome(testcase)
            outcomes[outcome] += 1
            cases.append(Case(testcase.get("classname", ""), testcase.get("name", ""), outcome,
                              float(testcase.get("time") or 0), message, path.name, timestamp))
        suites.append(Suite(path.name, timestamp, suite.get("hostname", ""), float(suite.get("time") or 0),
                            dict(outcomes)))
    return suites, cases


# --- checks and controls ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckId:
    """A catalog check `tests/x/test_y.py[::Class]::test[suffix]` as JUnit names its cases."""

    text: str
    classname: str
    function: str
    suffix: str | None

    @classmethod
    def parse(cls, text: str) -> CheckId:
        path, *names = text.split("::")
        function, _, suffix = names[-1].partition("[")
        classname = ".".join([path.removesuffix(".py").replace("/", "."), *names[:-1]])
        return cls(text, classname, function, suffix.removesuffix("]") or None)

    def matches(self, case: Case) -> bool:
        if case.classname != self.classname:
            return False
        if case.name == self.function:
            return self.suffix is None
        if not case.name.startswith(self.function + "[") or not case.name.endswith("]"):
            return False
        return self.suffix is None or case.name[:-1].endswith(self.suffix)


@dataclass
class CheckResult:
    check: str
    cases: list[Case]

    @property
    def passed(self) -> list[Case]:
        return [case for case in self.cases if case.outcome == "passed"]

    @property
    def not_passed(self) -> list[Case]:
        return [case for case in self.cases if case.outcome != "passed"]

    @property
    def seconds(self) -> float:
        return sum(case.seconds for case in self.cases)

    @property
    def status(self) -> str:
        """fail if any case failed or errored; pass if one ran and passed (the others skipped); else not run.

        A case skipped for one host (a db-only test on the web guest) does not hold the check back; a check
        all of whose cases were skipped proves nothing and counts as not run.
        """
        outcomes = {case.outcome for case in self.cases}
        if outcomes & {"failed", "error"}:
            return "fail"
        return "pass" if "passed" in outcomes else "not-run"


@dataclass
class ControlResult:
    control: dict[str, Any]
    status: str
    reason: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.control["id"]

    @property
    def standards(self) -> list[str]:
        return sorted({requirement["standard"] for requirement in self.control["requirements"]})


def _count(results: list[CheckResult], status: str) -> int:
    return sum(result.status == status for result in results)


def judge_control(control: dict[str, Any], cases: list[Case], applies: set[str]) -> ControlResult:
    """The status of one control (docs/audit.md "Status"): failing checks first, then exemptions, then proof."""
    checks = [CheckResult(check, [case for case in cases if CheckId.parse(check).matches(case)])
              for check in control.get("checks") or []]
    failed, not_run = _count(checks, "fail"), _count(checks, "not-run")
    if failed:
        return ControlResult(control, "fail", f"{failed} of {len(checks)} checks failed", checks)
    if control.get("not_applicable") and control["id"] not in applies:
        return ControlResult(control, "not-applicable", control["not_applicable"], checks)
    if not checks:
        if control.get("gap"):
            return ControlResult(control, "gap", control["gap"], checks)
        return ControlResult(control, "manual", "no automated check: the procedure is the evidence", checks)
    if not_run:
        return ControlResult(control, "not-run", f"{not_run} of {len(checks)} checks did not run", checks)
    if control.get("gap"):
        return ControlResult(control, "partial", f"all {len(checks)} checks passed; gap: {control['gap']}", checks)
    return ControlResult(control, "pass", f"all {len(checks)} checks passed", checks)


def summarise(results: list[ControlResult], standards: dict[str, Any]) -> list[dict[str, Any]]:
    """Per standard of the catalog: how many of the controls citing it are in each status."""
    rows = []
    for standard, about in standards.items():
        counts = Counter(result.status for result in results if standard in result.standards)
        rows.append({"standard": standard, "title": about["title"], "total": sum(counts.values()),
                     "counts": {status: counts.get(status, 0) for status in STATUSES}})
    return rows


def chart_bars(summary: list[dict[str, Any]], width: int = 460) -> list[dict[str, Any]]:
    """Stacked bar segments (x, width) per standard for the SVG chart, scaled to the largest total."""
    largest = max((row["total"] for row in summary), default=0) or 1
    bars = []
    for row in summary:
        x, segments = 0.0, []
        for status in STATUSES:
            count = row["counts"][status]
            if count:
                length = width * count / largest
                segments.append({"status": status, "count": count, "x": round(x, 1), "width": round(length, 1),
                                 "colour": COLOURS[status]})
                x += length
        bars.append({"standard": row["standard"], "total": row["total"], "segments": segments})
    return bars


# --- the other inputs ------------------------------------------------------------------------------

def read_register(paths: list[Path]) -> dict[str, Any] | None:
    """Merge register files: the app's (`staff`) and the guests' (`db_accounts`, `os_accounts`).

    `collected` says which lists some file provided at all: an empty list collected is not a list missing.
    """
    if not paths:
        return None
    merged: dict[str, Any] = {"staff": [], "db_accounts": [], "os_accounts": [], "sources": [], "collected": {},
                              "role_permissions": {}}
    for path in paths:
        part = json.loads(path.read_text(encoding="utf-8"))
        for key in ("staff", "db_accounts", "os_accounts"):
            merged[key] += part.get(key) or []
            merged["collected"][key] = merged["collected"].get(key, False) or key in part
        merged["role_permissions"] |= part.get("role_permissions") or {}
        merged["sources"].append({"file": path.name, "source": part.get("source", ""),
                                  "generated_at": part.get("generated_at", ""), "database": part.get("database", "")})
    return merged


def supply_rows(supply: dict[str, Any]) -> list[dict[str, str]]:
    """The supply-chain verdict as one row per finding (open, accepted, expired) or tool problem."""
    deps, code = supply.get("dependencies", {}), supply.get("code", {})
    rows = [{"kind": "open", "what": f"{f['package']} {f['version']}", "id": f["id"],
             "detail": clean(f.get("description", ""), 200)} for f in deps.get("open", [])]
    rows += [{"kind": f"accepted until {f['exception']['expires']}", "what": f"{f['package']} {f['version']}",
              "id": f["id"], "detail": clean(f["exception"]["reason"], 200)} for f in deps.get("accepted", [])]
    rows += [{"kind": "expired exception", "what": w["package"], "id": w["id"], "detail": w["expires"]}
             for w in deps.get("expired_exceptions", [])]
    rows += [{"kind": "lock out of date", "what": "requirements.lock", "id": "", "detail": problem}
             for problem in deps.get("lock_drift", [])]
    rows += [{"kind": "bandit", "what": f"{i['filename']}:{i['line_number']}", "id": i["test_id"],
              "detail": clean(i["issue_text"], 200)} for i in code.get("findings", [])]
    return rows


def git_state(root: Path = ROOT) -> dict[str, Any]:
    """The commit audited and whether the working tree differs from it."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,  # noqa: S603, S607
                                check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    return {"commit": commit or "unknown", "dirty": bool(git("status", "--porcelain")) if commit else False}


def generated_at() -> datetime:
    """Now, or SOURCE_DATE_EPOCH when set (the same inputs then give the same bytes)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.astimezone(TOKYO).replace(microsecond=0)


# --- the report --------------------------------------------------------------------------------------

@dataclass
class Report:
    results: list[ControlResult]
    summary: list[dict[str, Any]]
    suites: list[Suite]
    cases: int
    cited_cases: int
    supply: dict[str, Any] | None
    register: dict[str, Any] | None
    git: dict[str, Any]
    generated_at: datetime
    allow_not_run: bool
    experiments: dict[str, Any] | None = None

    def experiments_of(self, control_id: str) -> list[dict[str, Any]]:
        return [e for e in (self.experiments or {}).get("experiments", []) if e["control"] == control_id]

    def with_status(self, status: str) -> list[ControlResult]:
        return [result for result in self.results if result.status == status]

    @property
    def problems(self) -> list[str]:
        """Why the audit fails; empty when it passes."""
        problems = [f"{r.id}: {r.reason}" for r in self.with_status("fail")]
        if not self.allow_not_run:
            problems += [f"{r.id}: {r.reason}" for r in self.with_status("not-run")]
        if self.supply and self.supply.get("status") != "pass":
            problems.append(f"supply chain: {self.supply.get('status', 'no verdict')}")
        if self.experiments is not None:
            problems += [f"experiment {e['id']} ({e['control']}): {e['status']}: {e['reason']}"
                         for e in self.experiments.get("experiments", []) if e["status"] != "red"]
            if not self.experiments.get("experiments"):
                problems.append("defence-removal experiments: none in the file")
        return problems

    @property
    def verdict(self) -> str:
        return "fail" if self.problems else "pass"


def build_report(catalog: dict[str, Any], junit: list[Path], supply: Path | None = None,
                 register: list[Path] | None = None, applies: set[str] | None = None,
                 allow_not_run: bool = False, experiments: Path | None = None) -> Report:
    suites, cases = [], []
    for path in junit:
        more_suites, more_cases = read_junit(path)
        suites += more_suites
        cases += more_cases
    results = [judge_control(control, cases, applies or set()) for control in catalog["controls"]]
    cited = {id(case) for result in results for check in result.checks for case in check.cases}
    return Report(results, summarise(results, catalog["standards"]), suites, len(cases), len(cited),
                  json.loads(supply.read_text(encoding="utf-8")) if supply else None,
                  read_register(register or []), git_state(), generated_at(), allow_not_run,
                  json.loads(experiments.read_text(encoding="utf-8")) if experiments else None)


# --- the workbook --------------------------------------------------------------------------------------

def _label(status: str) -> str:
    ja, en = LABELS[status]
    return f"{ja} / {en}"


def _requirements_text(control: dict[str, Any]) -> str:
    return "\n".join(f"{r['standard']} {r['ref']}" + (f" ({r['note']})" if r.get("note") else "")
                     for r in control["requirements"])


def _deviations_text(control: dict[str, Any]) -> str:
    return "\n".join(f"{d['standard']} {d['ref']}: {d['reason']}" for d in control.get("deviations") or [])


def _case_id(check: str, case: Case) -> str:
    """The pytest node id of a case: the check's path with the case's own name (and parameters)."""
    return check.partition("[")[0].rsplit("::", 1)[0] + "::" + case.name


def _params(case: Case) -> str:
    """The parameters of a parametrised case (`[sqlite]`), or its name."""
    _, bracket, rest = case.name.partition("[")
    return bracket + rest if bracket else case.name


class _Sheet:
    """Rows appended to a worksheet as text, never as formulas (a failure message may start with '=')."""

    def __init__(self, workbook: Any, title: str, widths: list[int]) -> None:
        from openpyxl.utils import get_column_letter

        self.ws = workbook.create_sheet(title)
        for number, width in enumerate(widths, start=1):
            self.ws.column_dimensions[get_column_letter(number)].width = width

    def row(self, values: list[Any], bold: bool = False, fill: str | None = None) -> int:
        from openpyxl.styles import Alignment, Font, PatternFill

        self.ws.append([CONTROL_CHARACTERS.sub("", v) if isinstance(v, str) else v for v in values])
        number = self.ws.max_row
        for cell in self.ws[number]:
            if cell.data_type == "f":
                cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if bold:
                cell.font = Font(bold=True)
            if fill:
                cell.fill = PatternFill("solid", fgColor=fill)
        return number

    def header(self, values: list[str]) -> int:
        number = self.row(values, bold=True, fill="E0E0E0")
        self.ws.freeze_panes = self.ws.cell(row=number + 1, column=1)
        return number

    def status_cell(self, row: int, column: int, status: str, colours: dict[str, str] = COLOURS) -> None:
        from openpyxl.styles import Font, PatternFill

        cell = self.ws.cell(row=row, column=column)
        cell.fill = PatternFill("solid", fgColor=colours.get(status, COLOURS["fail"]))
        cell.font = Font(bold=True, color="FFFFFF")


def _summary_sheet(wb: Any, report: Report) -> None:
    from openpyxl.chart import BarChart, Reference

    sheet = _Sheet(wb, "概要", [22, 10] + [12] * len(STATUSES))
    sheet.row(["監査報告書 / Audit report"], bold=True)
    sheet.row(["判定 / Verdict", report.verdict])
    sheet.row(["作成日時 / Generated", report.generated_at.isoformat()])
    sheet.row(["コミット / Commit", report.git["commit"] + (" (dirty)" if report.git["dirty"] else "")])
    for suite in report.suites:
        sheet.row(["JUnit", f"{suite.source}: {suite.timestamp}, {suite.seconds:.1f} s, "
                            + ", ".join(f"{n} {o}" for o, n in sorted(suite.counts.items()))])
    sheet.row(["防御除去実験 / Experiments", _experiments_summary(report.experiments)])
    for problem in report.problems:
        sheet.row(["不合格の理由 / Failing", problem])
    sheet.row([])
    first = sheet.header(["規格 / Standard", "管理策数 / Controls", *(_label(s) for s in STATUSES)])
    for row in report.summary:
        sheet.row([row["standard"], row["total"], *(row["counts"][s] for s in STATUSES)])
    last = sheet.ws.max_row
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap = "bar", "stacked", 100
    chart.title = "規格ごとの状態 / Status per standard"
    chart.add_data(Reference(sheet.ws, min_col=3, max_col=2 + len(STATUSES), min_row=first, max_row=last),
                   titles_from_data=True)
    chart.set_categories(Reference(sheet.ws, min_col=1, min_row=first + 1, max_row=last))
    for series, status in zip(chart.series, STATUSES, strict=True):
        series.graphicalProperties.solidFill = COLOURS[status]
    chart.x_axis.scaling.orientation = "maxMin"  # first standard at the top, as in the table
    chart.height, chart.width = 9, 22
    sheet.ws.add_chart(chart, f"A{last + 2}")


def _experiments_summary(run: dict[str, Any] | None) -> str:
    if run is None:
        return "未実施 / not run (no --experiments)"
    experiments = run.get("experiments", [])
    red = sum(e["status"] == "red" for e in experiments)
    return f"{red} / {len(experiments)} 検知 / turned red ({run.get('generated_at', '')}, {run.get('seconds', 0)} s)"


def _controls_sheet(wb: Any, report: Report) -> None:
    sheet = _Sheet(wb, "管理策", [18, 40, 40, 16, 40, 26, 36, 60, 50, 40, 40, 36])
    sheet.header(["ID", "名称", "Title", "状態 / Status", "理由 / Reason", "規格・要求事項 / Requirements",
                  "実装箇所 / Implemented in", "検査 / Checks", "手動手順 / Manual procedure",
                  "逸脱 / Deviations", "未対応 / Gap", "作成中の検査 / Pending checks"])
    for result in report.results:
        control = result.control
        checks = "\n".join(f"{check.status}: {check.check}" for check in result.checks)
        number = sheet.row([result.id, control["title"]["ja"], control["title"]["en"], _label(result.status),
                            result.reason, _requirements_text(control), "\n".join(control["implemented_in"]),
                            checks, control.get("manual", ""), _deviations_text(control), control.get("gap", ""),
                            "\n".join(control.get("pending_checks") or [])])
        sheet.status_cell(number, 4, result.status)
    sheet.ws.auto_filter.ref = sheet.ws.dimensions


def _evidence_sheet(wb: Any, report: Report) -> None:
    sheet = _Sheet(wb, "証跡", [18, 60, 70, 10, 10, 60, 16, 28])
    sheet.header(["ID", "検査 / Check", "テストケース / Test case", "結果 / Outcome", "秒 / Seconds",
                  "メッセージ / Message", "JUnit", "実行日時 / Run at"])
    for result in report.results:
        for check in result.checks:
            if not check.cases:
                sheet.row([result.id, check.check, "", "not found", None, "no JUnit file has this check", "", ""])
            for case in check.cases:
                sheet.row([result.id, check.check, _case_id(check.check, case), case.outcome, case.seconds,
                           case.message, case.source, case.timestamp])
    sheet.ws.auto_filter.ref = sheet.ws.dimensions


def _supply_sheet(wb: Any, report: Report) -> None:
    sheet = _Sheet(wb, "依存関係", [24, 30, 30, 80])
    supply = report.supply
    if supply is None:
        sheet.row(["サプライチェーン検査の結果が渡されていません / no supply-chain verdict was given (--supply)"])
        return
    deps, code = supply.get("dependencies", {}), supply.get("code", {})
    sheet.row(["判定 / Verdict", supply.get("status", "")], bold=True)
    sheet.row(["作成日時 / Generated", supply.get("generated_at", "")])
    sheet.row(["コミット / Commit", supply.get("commit") or ""])
    sheet.row(["依存関係 / Dependencies", deps.get("status", ""), deps.get("tool", ""),
               f"{deps.get('packages', 0)} packages in {deps.get('lock', '')}"])
    sheet.row(["コード / Code", code.get("status", ""), code.get("tool", ""),
               f"{code.get('lines', 0)} lines of {code.get('target', '')}; gate: {code.get('gate', '')}"])
    sheet.row([])
    sheet.header(["区分 / Kind", "対象 / What", "ID", "詳細 / Detail"])
    for row in supply_rows(supply):
        sheet.row([row["kind"], row["what"], row["id"], row["detail"]])


def _experiment_label(status: str) -> str:
    ja, en = EXPERIMENT_LABELS.get(status, (status, status))
    return f"{ja} / {en}"


def _experiments_sheet(wb: Any, report: Report) -> None:
    """One row per defence-removal experiment (only when --experiments was given; 概要 says "not run" otherwise)."""
    run = report.experiments
    if run is None:
        return
    sheet = _Sheet(wb, "除去実験", [30, 16, 10, 40, 40, 28, 16, 60, 60, 8, 50, 10])
    sheet.row(["防御除去実験 / Defence-removal experiments", run.get("status", ""), run.get("generated_at", ""),
               (run.get("git") or {}).get("commit", "")], bold=True)
    sheet.header(["ID", "管理策 / Control", "IPA", "除去した防御", "Defence removed", "ファイル / File",
                  "結果 / Result", "検査 / Checks", "失敗したテスト / Failing tests", "exit", "抜粋 / Excerpt",
                  "秒 / Seconds"])
    for e in run.get("experiments", []):
        checks = "\n".join(("red: " if c in e["red_checks"] else "not red: ") + c for c in e["checks"])
        number = sheet.row([e["id"], e["control"], e["ipa"], e["removed"]["ja"], e["removed"]["en"], e["file"],
                            _experiment_label(e["status"]), checks, "\n".join(e["failing_tests"]), e["exit_code"],
                            e["excerpt"] or e["reason"], e["seconds"]])
        sheet.status_cell(number, 7, e["status"], EXPERIMENT_COLOURS)


def _register_sheet(wb: Any, report: Report) -> None:
    sheet = _Sheet(wb, "個人データ閲覧者", [30, 22, 16, 12, 16, 14, 12, 26])
    register = report.register
    if register is None:
        sheet.row(["個人データ閲覧者の一覧が渡されていません / no register was given (--register)"])
        return
    for source in register["sources"]:
        sheet.row(["出典 / Source", source["file"], source["source"], source["generated_at"], source["database"]])
    sheet.row([])
    sheet.row(["職員アカウント / Staff accounts"], bold=True)
    if register["collected"].get("staff"):
        sheet.header(["メール / E-mail", "表示名 / Name", "役割 / Role", "有効 / Enabled", "個人データ閲覧 / Can view",
                      "二要素 / TOTP", "ロック / Locked", "最終ログイン / Last login"])
        for s in register["staff"]:
            sheet.row([s["email"], s["display_name"], s["role"], s["enabled"], s["can_view_personal_data"],
                       s["totp_enabled"], s["locked"], s["last_login_at"] or ""])
    else:
        sheet.row(["未収集 / not collected"])
    sheet.row([])
    sheet.row(["DBアカウント / Database accounts"], bold=True)
    if register["collected"].get("db_accounts"):
        sheet.row(["ユーザー / User", "ホスト / Host", "権限 / Grants"], bold=True)
        for account in register["db_accounts"]:
            sheet.row([account.get("user", ""), account.get("host", ""), "\n".join(account.get("grants") or [])])
    else:
        sheet.row(["未収集 / not collected (register-infra.json)"])
    sheet.row([])
    sheet.row(["OSアカウント / OS accounts"], bold=True)
    if register["collected"].get("os_accounts"):
        sheet.row(["ホスト / Host", "ユーザー / User", "グループ / Groups", "バックアップ読取 / Reads backups",
                   "読める対象 / Can read", "経路 / Via"], bold=True)
        for account in register["os_accounts"]:
            groups = account.get("groups") or []
            sheet.row([account.get("host", ""), account.get("user", ""),
                       ", ".join(groups) if isinstance(groups, list) else str(groups), account.get("can_read_backups"),
                       account.get("reads", ""), account.get("via", "")])
    else:
        sheet.row(["未収集 / not collected (register-infra.json)"])


def workbook_bytes(report: Report) -> bytes:
    from openpyxl import Workbook

    from app.core.xlsx import reproducible_bytes

    wb = Workbook()
    wb.remove(wb.active)
    for build_sheet in (_summary_sheet, _controls_sheet, _evidence_sheet, _supply_sheet, _register_sheet,
                        _experiments_sheet):
        build_sheet(wb, report)
    wb.properties.creator = wb.properties.lastModifiedBy = "Tsunagu security.report"
    wb.properties.created = report.generated_at.astimezone(UTC).replace(tzinfo=None)
    return reproducible_bytes(wb, report.generated_at.astimezone(UTC).replace(tzinfo=None))


def render_html(report: Report) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["case_id"] = _case_id
    env.globals["params"] = _params
    return env.get_template("report.html.j2").render(
        report=report, labels=LABELS, colours=COLOURS, statuses=STATUSES, bars=chart_bars(report.summary),
        experiment_labels=EXPERIMENT_LABELS, experiment_colours=EXPERIMENT_COLOURS,
        supply_rows=supply_rows(report.supply) if report.supply else [])


def write(report: Report, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    html, xlsx = out / "index.html", out / "controls.xlsx"
    html.write_text(render_html(report), encoding="utf-8")
    xlsx.write_bytes(workbook_bytes(report))
    return [html, xlsx]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m security.report", description=__doc__.splitlines()[0])
    parser.add_argument("--junit", type=Path, action="append", required=True,
                        help="a JUnit XML file of a pytest or testinfra run (repeat for each)")
    parser.add_argument("--supply", type=Path, help="build/audit/supply-chain.json of `make audit-deps`")
    parser.add_argument("--register", type=Path, action="append", default=[],
                        help="a personal-data register JSON (flask register personal-data; the guests' file)")
    parser.add_argument("--experiments", type=Path,
                        help="build/audit/experiments.json of `python -m security.experiments`")
    parser.add_argument("--catalog", type=Path, default=CATALOG)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "audit")
    parser.add_argument("--allow-not-run", action="store_true",
                        help="a partial run: checks that did not run are reported but do not fail")
    parser.add_argument("--applies", action="append", default=[], metavar="CONTROL",
                        help="this deployment is one where CONTROL's not_applicable reason does not hold")
    args = parser.parse_args(argv)
    optional = [path for path in (args.supply, args.experiments) if path]
    for path in [*args.junit, *args.register, *optional, args.catalog]:
        if not path.is_file():
            parser.error(f"{path}: no such file")
    catalog = yaml.safe_load(args.catalog.read_text(encoding="utf-8"))
    unknown = set(args.applies) - {control["id"] for control in catalog["controls"]}
    if unknown:
        parser.error(f"--applies: no such control: {', '.join(sorted(unknown))}")
    try:
        report = build_report(catalog, args.junit, args.supply, args.register, set(args.applies), args.allow_not_run,
                              args.experiments)
    except (ElementTree.ParseError, json.JSONDecodeError) as error:  # a run killed half-way leaves a broken file
        print(f"audit: cannot read an input: {error}", file=sys.stderr)
        return 2
    written = write(report, args.out)
    counts = Counter(result.status for result in report.results)
    print("audit: " + ", ".join(f"{counts[s]} {LABELS[s][1]}" for s in STATUSES if counts[s])
          + f" ({len(report.results)} controls, {report.cases} test cases read, {report.cited_cases} cited)")
    for problem in report.problems:
        print(f"  FAIL {problem}")
    print(f"audit: {report.verdict.upper()}; report in {', '.join(str(path) for path in written)}")
    return 0 if report.verdict == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
