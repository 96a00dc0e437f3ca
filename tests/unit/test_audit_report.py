"""The auditor's report (security/report.py, issue 8 §4-5): statuses decided from JUnit results exactly as
docs/audit.md says, the exit code that fails `make audit`, escaped HTML, a workbook that opens, and the
personal-data register generated from the database without a secret in it."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
import yaml

from app.register.cli import register_cli
from security import report
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

ROOT = Path(__file__).resolve().parents[2]
SUITE_STARTED = "2026-11-20T10:15:00.123456+09:00"
SCRIPT = "<script>alert('pwned')</script>"


def _control(control_id: str, checks: list[str], **extra: object) -> dict:
    return {"id": control_id, "title": {"ja": f"管理策 {control_id}", "en": f"Control {control_id}"},
            "requirements": [{"standard": extra.pop("standard", "ipa-web"), "ref": "1-(i)-a"}],
            "implemented_in": ["app/extensions.py"], "checks": checks, **extra}


X = "tests/integration/test_x.py"
SSHD = "tests/infra/test_common.py::test_sshd"
CATALOG = {
    "standards": {"ipa-web": {"title": "IPA", "cite_as": "item"}, "cis-apache": {"title": "CIS", "cite_as": "no"}},
    "controls": [
        _control("T-PASS", [f"{X}::test_ok", f"{X}::TestGroup::test_method"]),
        _control("T-FAIL", [f"{X}::test_ok", f"{X}::test_broken"], standard="cis-apache"),
        _control("T-ERROR", [f"{X}::test_setup_error"]),
        _control("T-MISSING", [f"{X}::test_ok", f"{X}::test_absent"]),
        _control("T-SKIPPED", [f"{X}::test_skipped"]),
        _control("T-HOST-SKIP", [f"{X}::test_db_only"]),
        _control("T-SUFFIX", [f"{SSHD}[permitrootlogin-no]"], standard="cis-apache"),
        _control("T-SUFFIX-FAIL", [f"{SSHD}[passwordauthentication-no]"]),
        _control("T-MANUAL", [], manual="Read the log and sign it."),
        _control("T-NA", [], manual="getenforce prints Enforcing.", not_applicable="Debian guests have no SELinux."),
        _control("T-PARTIAL", [f"{X}::test_ok"], gap="The API URL is not forced to https."),
        _control("T-GAP", [], manual="Install auditd.", gap="auditd is not deployed."),
        _control("T-DEVIATION", [f"{X}::test_ok"],
                 deviations=[{"standard": "ipa-web", "ref": "4", "reason": "Lax cookies for mailed links."}]),
    ],
}
EXPECTED = {
    "T-PASS": "pass", "T-FAIL": "fail", "T-ERROR": "fail", "T-MISSING": "not-run", "T-SKIPPED": "not-run",
    "T-HOST-SKIP": "pass", "T-SUFFIX": "pass", "T-SUFFIX-FAIL": "fail", "T-MANUAL": "manual",
    "T-NA": "not-applicable", "T-PARTIAL": "partial", "T-GAP": "gap", "T-DEVIATION": "pass",
}


def _junit(cases: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" '
            f'errors="1" failures="2" skipped="2" tests="12" time="12.5" timestamp="{SUITE_STARTED}" '
            f'hostname="ci">{cases}</testsuite></testsuites>')


def _case(classname: str, name: str, inner: str = "", seconds: str = "0.250") -> str:
    return f'<testcase classname="{classname}" name="{name}" time="{seconds}">{inner}</testcase>'


APP_CASES = "".join([
    _case("tests.integration.test_x", "test_ok[sqlite]"),
    _case("tests.integration.test_x", "test_ok[mariadb]"),
    _case("tests.integration.test_x.TestGroup", "test_method"),
    _case("tests.integration.test_x", "test_broken[sqlite]",
          f'<failure message="AssertionError: {SCRIPT.replace("<", "&lt;").replace(">", "&gt;")}">'
          "traceback line\n#x1B[31mred#x1B[0m</failure>"),
    _case("tests.integration.test_x", "test_setup_error",
          '<error message="=HYPERLINK(&quot;http://evil.example&quot;,&quot;fixture failed&quot;)">boom</error>'),
    _case("tests.integration.test_x", "test_skipped", '<skipped type="pytest.skip" message="no MariaDB" />'),
    _case("tests.integration.test_x", "test_db_only[podman://tsunagu-web1]",
          '<skipped type="pytest.skip" message="db guest only" />'),
    _case("tests.integration.test_x", "test_db_only[podman://tsunagu-db1]"),
])
INFRA_CASES = "".join([
    _case("tests.infra.test_common", "test_sshd[podman://tsunagu-web1-permitrootlogin-no]"),
    _case("tests.infra.test_common", "test_sshd[podman://tsunagu-db1-permitrootlogin-no]"),
    _case("tests.infra.test_common", "test_sshd[podman://tsunagu-web1-passwordauthentication-no]"),
    _case("tests.infra.test_common", "test_sshd[podman://tsunagu-db1-passwordauthentication-no]",
          '<failure message="assert \'yes\' == \'no\'">sshd -T says yes</failure>'),
    # contain or end like "permitrootlogin-no" but are other settings: not cases of that control
    _case("tests.infra.test_common", "test_sshd[podman://tsunagu-db1-permitrootlogin-nope]",
          '<failure message="other">other setting</failure>'),
    _case("tests.infra.test_common", "test_sshd[podman://tsunagu-db1-x11forwarding-no]",
          '<failure message="x11">x11 on</failure>'),
])


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    paths = {"catalog": tmp_path / "controls.yaml", "app": tmp_path / "app.xml", "infra": tmp_path / "infra.xml",
             "supply": tmp_path / "supply-chain.json", "out": tmp_path / "audit"}
    paths["catalog"].write_text(yaml.safe_dump(CATALOG, allow_unicode=True), encoding="utf-8")
    paths["app"].write_text(_junit(APP_CASES), encoding="utf-8")
    paths["infra"].write_text(_junit(INFRA_CASES), encoding="utf-8")
    paths["supply"].write_text(json.dumps({"status": "pass", "generated_at": "2026-11-20T01:00:00+00:00",
                                           "commit": "abc", "dependencies": {"status": "pass", "open": []},
                                           "code": {"status": "pass", "findings": []}}), encoding="utf-8")
    return paths


def _build(inputs: dict[str, Path], **options: object) -> report.Report:
    catalog = yaml.safe_load(inputs["catalog"].read_text(encoding="utf-8"))
    return report.build_report(catalog, [inputs["app"], inputs["infra"]], **options)


def _run(inputs: dict[str, Path], *extra: str, catalog: Path | None = None) -> int:
    return report.main(["--catalog", str(catalog or inputs["catalog"]), "--junit", str(inputs["app"]),
                        "--junit", str(inputs["infra"]), "--out", str(inputs["out"]), *extra])


def _only(inputs: dict[str, Path], *ids: str) -> Path:
    """A catalog with only the named controls of CATALOG."""
    path = inputs["catalog"].with_name("only.yaml")
    subset = {**CATALOG, "controls": [c for c in CATALOG["controls"] if c["id"] in ids]}
    path.write_text(yaml.safe_dump(subset, allow_unicode=True), encoding="utf-8")
    return path


# --- statuses ---------------------------------------------------------------------------------------

def test_statuses_follow_the_documented_rules(inputs):
    assert {result.id: result.status for result in _build(inputs).results} == EXPECTED


def test_a_bracket_suffix_selects_only_the_cases_whose_parameters_end_with_it(inputs):
    result = next(r for r in _build(inputs).results if r.id == "T-SUFFIX")
    assert [case.name for case in result.checks[0].cases] == [
        "test_sshd[podman://tsunagu-web1-permitrootlogin-no]", "test_sshd[podman://tsunagu-db1-permitrootlogin-no]"]


def test_a_control_whose_not_applicable_reason_does_not_hold_here_is_manual(inputs):
    result = next(r for r in _build(inputs, applies={"T-NA"}).results if r.id == "T-NA")
    assert result.status == "manual"


def test_the_real_catalog_passes_nothing_without_evidence(inputs):
    catalog = yaml.safe_load((ROOT / "security" / "controls.yaml").read_text(encoding="utf-8"))
    inputs["app"].write_text(_junit(""), encoding="utf-8")
    built = report.build_report(catalog, [inputs["app"]])
    statuses = {r.id: r.status for r in built.results}
    assert "pass" not in statuses.values() and "partial" not in statuses.values()
    assert statuses["OS-SELINUX"] == "not-applicable"
    assert all(statuses[c["id"]] in {"manual", "gap", "not-applicable"} for c in catalog["controls"]
               if not c["checks"])
    assert {row["standard"] for row in built.summary} == set(catalog["standards"])


def test_the_summary_counts_each_control_once_per_standard_it_cites(inputs):
    summary = {row["standard"]: row for row in _build(inputs).summary}
    assert summary["cis-apache"]["counts"]["fail"] == 1 and summary["cis-apache"]["counts"]["pass"] == 1
    assert summary["cis-apache"]["total"] == 2
    assert summary["ipa-web"]["total"] == len(CATALOG["controls"]) - 2


# --- exit code ----------------------------------------------------------------------------------------

def test_a_failing_check_fails_the_audit_and_is_named(inputs, capsys):
    assert _run(inputs, "--allow-not-run") == 1
    output = capsys.readouterr().out
    assert "FAIL T-FAIL" in output and "FAIL T-SUFFIX-FAIL" in output and "FAIL T-MISSING" not in output


def test_a_check_that_did_not_run_fails_a_complete_run_but_not_a_partial_one(inputs, capsys):
    catalog = _only(inputs, "T-PASS", "T-MISSING", "T-MANUAL", "T-NA", "T-GAP", "T-PARTIAL")
    assert _run(inputs, catalog=catalog) == 1
    assert "FAIL T-MISSING" in capsys.readouterr().out
    assert _run(inputs, "--allow-not-run", catalog=catalog) == 0


def test_manual_gap_and_not_applicable_controls_do_not_fail_the_audit(inputs):
    assert _run(inputs, catalog=_only(inputs, "T-PASS", "T-MANUAL", "T-NA", "T-GAP", "T-PARTIAL")) == 0


def test_a_failed_supply_chain_verdict_fails_the_audit(inputs):
    catalog = _only(inputs, "T-PASS")
    assert _run(inputs, "--supply", str(inputs["supply"]), catalog=catalog) == 0
    inputs["supply"].write_text(json.dumps({"status": "fail", "dependencies": {
        "status": "fail", "open": [{"package": "jinja2", "version": "3.0.0", "id": "GHSA-0000-fake",
                                    "description": "fictitious"}]}, "code": {"status": "pass"}}), encoding="utf-8")
    assert _run(inputs, "--supply", str(inputs["supply"]), catalog=catalog) == 1
    assert "GHSA-0000-fake" in (inputs["out"] / "index.html").read_text(encoding="utf-8")


def test_an_unknown_control_in_applies_is_refused(inputs):
    with pytest.raises(SystemExit) as exited:
        _run(inputs, "--applies", "NO-SUCH")
    assert exited.value.code == 2


def test_a_truncated_junit_file_is_an_input_error_not_a_verdict(inputs, capsys):
    inputs["infra"].write_text(_junit(INFRA_CASES)[:300], encoding="utf-8")
    assert _run(inputs) == 2
    assert "cannot read" in capsys.readouterr().err and not (inputs["out"] / "index.html").exists()


# --- the HTML -----------------------------------------------------------------------------------------

def test_html_escapes_test_output_and_shows_the_evidence(inputs):
    _run(inputs, "--supply", str(inputs["supply"]))
    html = (inputs["out"] / "index.html").read_text(encoding="utf-8")
    assert SCRIPT not in html and "&lt;script&gt;alert(" in html
    assert "#x1B" not in html and "red" in html
    assert f"{X}::test_broken[sqlite]" in html and "failed" in html
    assert "2026-11-20T10:15:00+09:00" in html and "0.25 s" in html and "[sqlite] [mariadb]" in html
    assert report.git_state()["commit"] in html
    assert "Read the log and sign it." in html and "Debian guests have no SELinux." in html
    assert "Lax cookies for mailed links." in html and "auditd is not deployed." in html
    assert html.count("<svg") == 1 and "<rect" in html


def test_a_long_failure_message_is_cut(inputs):
    long_failure = _case("tests.integration.test_x", "test_ok", f'<failure message="x">{"y" * 5000}</failure>')
    inputs["app"].write_text(_junit(long_failure), encoding="utf-8")
    case = next(c for r in _build(inputs).results for check in r.checks for c in check.cases if c.outcome == "failed")
    assert len(case.message) <= report.MESSAGE_LIMIT + 2 and case.message.endswith("…")


# --- the workbook --------------------------------------------------------------------------------------

def test_workbook_has_the_sheets_a_chart_and_no_formulas(inputs):
    _run(inputs, "--supply", str(inputs["supply"]))
    wb = openpyxl.load_workbook(inputs["out"] / "controls.xlsx")
    assert wb.sheetnames == ["概要", "管理策", "証跡", "依存関係", "個人データ閲覧者"]
    assert len(wb["概要"]._charts) == 1
    controls = {row[0]: row for row in wb["管理策"].iter_rows(min_row=2, values_only=True)}
    assert controls["T-FAIL"][3] == "不合格 / fail" and controls["T-NA"][3] == "対象外 / not applicable"
    evidence = [cell for row in wb["証跡"].iter_rows(min_row=2) for cell in row if isinstance(cell.value, str)]
    assert any(cell.value.startswith("AssertionError: <script>") for cell in evidence)
    formula = [cell for cell in evidence if cell.value.startswith("=HYPERLINK(")]
    assert formula and all(cell.data_type == "s" for cell in formula)


def test_same_inputs_and_source_date_give_the_same_bytes(inputs, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    first = report.workbook_bytes(_build(inputs))
    assert report.workbook_bytes(_build(inputs)) == first


# --- the personal-data register ------------------------------------------------------------------------

def test_register_lists_every_staff_account_and_who_can_view_personal_data(app, make_staff, tmp_path):
    from app.extensions import db
    from app.staff.models import StaffUser

    admin = make_staff("administrator", email="kanri@example.com")
    make_staff("editor", email="henshu@example.com")
    viewer = make_staff("viewer", email="etsuran@example.com")
    with app.app_context():
        db.session.get(StaffUser, viewer.id).is_enabled = False
        db.session.commit()
        hashes = [u.password_hash for u in db.session.query(StaffUser)]
    out = tmp_path / "audit" / "register.json"
    result = app.test_cli_runner().invoke(register_cli, ["personal-data", "--json", str(out)])
    assert result.exit_code == 0, result.output
    register = json.loads(out.read_text(encoding="utf-8"))
    staff = {entry["email"]: entry for entry in register["staff"]}
    assert {email: (e["role"], e["enabled"], e["can_view_personal_data"]) for email, e in staff.items()} == {
        "kanri@example.com": ("administrator", True, True), "henshu@example.com": ("editor", True, True),
        "etsuran@example.com": ("viewer", False, True)}
    assert register["summary"] == {"staff_accounts": 3, "can_view_personal_data": 3, "enabled_and_can_view": 2}
    assert staff["kanri@example.com"]["id"] == admin.id and staff["kanri@example.com"]["last_login_at"] is None
    assert "etsuran@example.com\tviewer\tdisabled" in result.output
    text = out.read_text(encoding="utf-8") + result.output
    assert all(h and h not in text for h in hashes) and "$argon2" not in text and "password" not in text
    assert "totp_secret" not in text

    alone = app.test_cli_runner().invoke(register_cli, ["personal-data", "--json", "-"])
    assert json.loads(alone.stdout)["staff"] == register["staff"]


def test_the_report_merges_the_app_and_guest_registers(inputs, tmp_path):
    app_register = tmp_path / "register.json"
    app_register.write_text(json.dumps({"source": "flask register personal-data", "staff": [
        {"email": "etsuran@example.com", "display_name": "閲覧 花子", "role": "viewer", "enabled": True,
         "can_view_personal_data": True, "totp_enabled": False, "locked": False, "last_login_at": None}]}),
        encoding="utf-8")
    _run(inputs, "--register", str(app_register))
    html = (inputs["out"] / "index.html").read_text(encoding="utf-8")
    assert "閲覧 花子" in html and html.count("not collected (register-infra.json)") == 2

    infra = tmp_path / "register-infra.json"
    infra.write_text(json.dumps({"source": "testinfra", "db_accounts": [
        {"user": "tsunagu", "host": "10.89.77.10", "grants": ["GRANT SELECT, INSERT ON `tsunagu`.* TO `tsunagu`"]}],
        "os_accounts": [{"host": "tsunagu-db1", "user": "root", "groups": ["root"], "can_read_backups": True}]}),
        encoding="utf-8")
    _run(inputs, "--register", str(app_register), "--register", str(infra))
    html = (inputs["out"] / "index.html").read_text(encoding="utf-8")
    assert "not collected" not in html and "10.89.77.10" in html and "tsunagu-db1" in html
    sheet = openpyxl.load_workbook(inputs["out"] / "controls.xlsx")["個人データ閲覧者"]
    values = [cell for row in sheet.iter_rows(values_only=True) for cell in row if cell]
    assert "閲覧 花子" in values and "tsunagu-db1" in values
