"""The report's defence-removal experiments section (security/report.py --experiments): shown when given, "not run"
when not, escaped, in the workbook, and an experiment that did not turn red fails the audit."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl

from tests.unit.test_audit_report import SCRIPT, _only, _run, inputs  # noqa: F401  (inputs is a fixture)


def _experiment(experiment_id: str, status: str, **extra: object) -> dict:
    red = ["tests/integration/test_x.py::test_ok"] if status == "red" else []
    return {"id": experiment_id, "control": "T-PASS", "ipa": "1-(i)-a", "tool": "pytest",
            "removed": {"ja": "プレースホルダを使わない", "en": "no bound parameters"}, "file": "app/x.py",
            "checks": ["tests/integration/test_x.py::test_ok"], "status": status,
            "reason": "all 1 checks red" if status == "red" else "stayed green: tests/integration/test_x.py::test_ok",
            "exit_code": 1 if status == "red" else 0, "red_checks": red, "failing_tests": red,
            "excerpt": f"AssertionError: {SCRIPT}" if status == "red" else "", "seconds": 3.2, **extra}


def _write(inputs: dict[str, Path], *experiments: dict) -> Path:  # noqa: F811
    path = inputs["out"].parent / "experiments.json"
    status = "pass" if experiments and all(e["status"] == "red" for e in experiments) else "fail"
    path.write_text(json.dumps({"generated_at": "2026-11-20T10:00:00+09:00", "git": {"commit": "abc", "dirty": False},
                                "status": status, "seconds": 42.0, "experiments": list(experiments)}),
                    encoding="utf-8")
    return path


def test_without_experiments_the_section_says_not_run_and_the_audit_is_unaffected(inputs):  # noqa: F811
    assert _run(inputs, catalog=_only(inputs, "T-PASS")) == 0
    html = (inputs["out"] / "index.html").read_text(encoding="utf-8")
    assert "防御除去実験" in html and "not run" in html.split('id="experiments"')[1].split("<h2")[0]
    wb = openpyxl.load_workbook(inputs["out"] / "controls.xlsx")
    assert "除去実験" not in wb.sheetnames
    summary = {row[0]: row[1] for row in wb["概要"].iter_rows(values_only=True) if row and row[0]}
    assert summary["防御除去実験 / Experiments"].startswith("未実施 / not run")


def test_red_experiments_are_shown_escaped_linked_to_their_control_and_in_the_workbook(inputs):  # noqa: F811
    experiments = _write(inputs, _experiment("sqli-by-formatting", "red"))
    assert _run(inputs, "--experiments", str(experiments), catalog=_only(inputs, "T-PASS")) == 0
    html = (inputs["out"] / "index.html").read_text(encoding="utf-8")
    section = html.split('id="experiments"')[1].split("<h2")[0]
    assert 'id="experiment-sqli-by-formatting"' in section and 'href="#T-PASS"' in section
    assert "プレースホルダを使わない" in section and "42.0 s" in section and "3.2" in section
    assert SCRIPT not in html and "&lt;script&gt;" in section
    assert 'href="#experiment-sqli-by-formatting"' in html.split('id="experiments"')[0]  # from the control's row
    wb = openpyxl.load_workbook(inputs["out"] / "controls.xlsx")
    rows = {row[0]: row for row in wb["除去実験"].iter_rows(min_row=3, values_only=True)}
    row = rows["sqli-by-formatting"]
    assert row[1] == "T-PASS" and row[6] == "検知 / turned red" and row[7] == "red: tests/integration/test_x.py::test_ok"
    assert row[10].startswith("AssertionError: <script>")


def test_an_experiment_that_did_not_turn_red_fails_the_audit_and_is_named(inputs, capsys):  # noqa: F811
    experiments = _write(inputs, _experiment("sqli-by-formatting", "red"), _experiment("xss-safe", "not-red"),
                         _experiment("csrf-off", "invalid", reason="exit 4: usage error", exit_code=4))
    assert _run(inputs, "--experiments", str(experiments), catalog=_only(inputs, "T-PASS")) == 1
    out = capsys.readouterr().out
    assert "FAIL experiment xss-safe (T-PASS): not-red" in out and "FAIL experiment csrf-off" in out
    assert "sqli-by-formatting" not in out
    wb = openpyxl.load_workbook(inputs["out"] / "controls.xlsx")
    results = {row[0]: row[6] for row in wb["除去実験"].iter_rows(min_row=3, values_only=True) if row[0]}
    assert results == {"sqli-by-formatting": "検知 / turned red", "xss-safe": "未検知 / stayed green",
                       "csrf-off": "無効 / invalid"}


def test_an_empty_experiments_file_fails_the_audit(inputs, capsys):  # noqa: F811
    assert _run(inputs, "--experiments", str(_write(inputs)), catalog=_only(inputs, "T-PASS")) == 1
    assert "none in the file" in capsys.readouterr().out
