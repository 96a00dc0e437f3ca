"""Supply chain (issue 8 §6): the lock matches pyproject.toml, known vulnerabilities fail unless an exception
in force accepts them, and bandit fails app/ code on medium+ findings or an unexplained # nosec.

The vulnerability lookups themselves need PyPI and run in `make audit-deps`, not here."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from security import supply_chain as sc

TODAY = date(2026, 11, 21)
HEAP_OVERFLOW = sc.Finding("pycrypto", "2.6.1", "PYSEC-2017-94", ("CVE-2013-7459", "GHSA-cq27-v7xp-c356"))
WEAK_KEYS = sc.Finding("pycrypto", "2.6.1", "PYSEC-2018-97", ("CVE-2018-6594",))


def waiver(id_="CVE-2013-7459", package="pycrypto", expires=TODAY + timedelta(days=30)) -> sc.Waiver:
    return sc.Waiver(id_, package, "ElGamal is not used; the block cipher module is never imported", expires)


# --- the lock ---------------------------------------------------------------------------------------

def test_the_committed_lock_pins_every_runtime_requirement_with_hashes():
    pins = sc.locked_pins(sc.LOCK)
    assert sc.lock_drift(sc.PYPROJECT, pins) == []
    assert {"flask", "sqlalchemy", "jinja2", "werkzeug"} <= pins.keys()  # direct and transitive
    assert "pytest" not in pins and "ruff" not in pins  # runtime only, not the dev tools
    assert sc.LOCK.read_text().count("==") == len(pins)
    for block in sc.LOCK.read_text().split("==")[1:]:
        assert "--hash=sha256:" in block.split("# via")[0]


def test_a_requirement_the_lock_does_not_satisfy_is_reported(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["Flask>=9", "jinja2>=3", "segno"]\n')
    drift = sc.lock_drift(pyproject, {"flask": "3.1.3", "jinja2": "3.1.6"})
    assert drift == ["Flask>=9 but the lock pins 3.1.3", "segno is not in the lock"]


# --- vulnerabilities and their exceptions ------------------------------------------------------------

def test_a_vulnerability_without_an_exception_fails():
    verdict = sc.judge([HEAP_OVERFLOW], [], TODAY)
    assert not verdict.passed and verdict.open == [HEAP_OVERFLOW]


def test_an_exception_accepts_a_vulnerability_by_any_of_its_ids_until_its_last_day():
    for id_ in ("PYSEC-2017-94", "CVE-2013-7459", "GHSA-cq27-v7xp-c356"):
        verdict = sc.judge([HEAP_OVERFLOW], [waiver(id_, expires=TODAY)], TODAY)
        assert verdict.passed and verdict.accepted == [(HEAP_OVERFLOW, waiver(id_, expires=TODAY))]


def test_an_exception_covers_only_its_own_vulnerability_and_package():
    verdict = sc.judge([HEAP_OVERFLOW, WEAK_KEYS], [waiver(), waiver("CVE-2018-6594", package="pycryptodome")],
                       TODAY)
    assert not verdict.passed and verdict.open == [WEAK_KEYS]


def test_an_expired_exception_fails_by_name_even_when_nothing_needs_it_any_more():
    old = waiver(expires=TODAY - timedelta(days=1))
    with_finding = sc.judge([HEAP_OVERFLOW], [old], TODAY)
    assert not with_finding.passed and with_finding.expired == [old] and with_finding.open == [HEAP_OVERFLOW]
    without = sc.judge([], [old], TODAY)
    assert not without.passed and without.expired == [old]


def test_an_exception_runs_at_most_a_quarter():
    far = waiver(expires=TODAY + timedelta(days=sc.MAX_EXCEPTION_DAYS + 1))
    assert sc.judge([HEAP_OVERFLOW], [far], TODAY).too_long == [far]
    assert sc.judge([HEAP_OVERFLOW], [waiver(expires=TODAY + timedelta(days=sc.MAX_EXCEPTION_DAYS))], TODAY).passed


def test_an_exception_nothing_matches_is_noted_but_does_not_fail():
    verdict = sc.judge([], [waiver()], TODAY)
    assert verdict.passed and verdict.unused == [waiver()]


@pytest.mark.parametrize(("entry", "message"), [
    ("- {id: CVE-1, package: jinja2, expires: 2026-12-01}", "entry 1: missing reason"),
    ("- {id: CVE-1, package: jinja2, reason: r, expires: next month}", "expires must be a date"),
    ("- {id: CVE-1, package: jinja2, reason: r, expires: 2026-12-01}\n"
     "- {id: CVE-1, package: jinja2, reason: r, expires: 2026-12-02}", "CVE-1 for jinja2 is listed twice"),
])
def test_the_exceptions_file_refuses_an_incomplete_entry(tmp_path, entry, message):
    path = tmp_path / "exceptions.yaml"
    path.write_text("exceptions:\n" + "\n".join("  " + line for line in entry.splitlines()) + "\n")
    with pytest.raises(ValueError, match=message):
        sc.load_waivers(path)


def test_the_committed_exceptions_name_locked_packages():
    pins = sc.locked_pins(sc.LOCK)
    for entry in sc.load_waivers(sc.EXCEPTIONS):
        assert entry.package in pins, entry


def test_pip_audit_json_gives_findings_and_skipped_packages():
    report = {"dependencies": [
        {"name": "jinja2", "version": "2.11.2", "vulns": [
            {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"],
             "description": "xmlattr accepts keys containing spaces"}]},
        {"name": "flask", "version": "3.1.3", "vulns": []},
        {"name": "segno", "skip_reason": "Dependency not found on PyPI and could not be audited: segno (1.6.6)"},
    ], "fixes": []}
    findings, skipped = sc.pip_audit_findings(report)
    assert findings == [sc.Finding("jinja2", "2.11.2", "GHSA-h5c8-rqwp-cp95", ("CVE-2024-22195",), ("3.1.3",),
                                   "xmlattr accepts keys containing spaces")]
    assert list(skipped) == ["segno"]


# --- bandit over the application code ----------------------------------------------------------------

SHELL_CALL = "import subprocess\n\n\ndef run(command):\n    return subprocess.call(command, shell=True){}\n"


def test_bandit_fails_a_shell_call_and_accepts_it_with_a_reasoned_nosec(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "tasks.py").write_text(SHELL_CALL.format(""))
    found = sc.audit_code(tmp_path, target=package)
    assert not found.passed
    assert [(i["test_id"], i["filename"], i["line_number"]) for i in found.findings] == [("B602", "pkg/tasks.py", 5)]
    assert found.low >= 1  # `import subprocess` (B404) is reported, below the gate
    assert (tmp_path / "bandit.json").exists()

    (package / "tasks.py").write_text(SHELL_CALL.format("  # nosec B602 # command is a constant of this module"))
    assert sc.audit_code(tmp_path, target=package).passed


def test_a_nosec_without_test_id_or_reason_fails(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text(
        'import subprocess  # nosec\n'
        'subprocess.call("ls", shell=True)  # nosec B602\n'
        'subprocess.call("ls", shell=True)  # noqa: S602 (a constant command)  # nosec B602\n'
        'NOTE = "# nosec is only a string here"\n')
    problems = [(n.line, n.problem) for n in sc.nosec_comments(package)]
    assert problems == [(1, "names no test id (write # nosec B608, not a blanket # nosec)"),
                        (2, "gives no reason (write # nosec B608 # why it is safe)"),
                        (3, None)]


def test_every_nosec_in_app_names_its_test_and_a_reason():
    annotations = sc.nosec_comments(sc.CODE)
    assert [(n.path, n.line, n.problem) for n in annotations if n.problem] == []
