"""The broken-setting experiment (security/broken-settings.yaml): every setting is a real, documented role
variable, names controls of the catalog whose checks run on the guests, and the settings combine into one
converge without overriding each other. The run itself needs the molecule guests: `make audit-broken-settings`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from security import broken_settings
from security.report import CheckId, read_junit
from tests.unit.test_control_catalog import by_id

ROOT = Path(__file__).resolve().parents[2]


def role_variables() -> set[str]:
    names: set[str] = set()
    for spec in ROOT.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text(encoding="utf-8"))["argument_specs"].values():
            names |= set(entry.get("options") or {})
    return names


@pytest.mark.parametrize("setting", broken_settings.load(), ids=lambda setting: setting["id"])
def test_each_setting_is_a_declared_role_variable_that_breaks_infra_controls(setting):
    assert set(setting["extra_vars"]) <= role_variables()
    assert setting["removed"]["ja"] and setting["removed"]["en"]
    for control_id in setting["expect_red"]:
        checks = by_id()[control_id]["checks"]
        assert any(check.startswith("tests/infra/") for check in checks), f"{control_id} has no testinfra check"


def test_the_settings_combine_into_one_converge():
    merged = broken_settings.combined_extra_vars(broken_settings.load())
    assert set(merged) == {name for setting in broken_settings.load() for name in setting["extra_vars"]}


def test_two_settings_of_the_same_variable_are_refused():
    twice = [{"id": "a", "extra_vars": {"x": 1}}, {"id": "b", "extra_vars": {"x": 2}}]
    with pytest.raises(ValueError, match="b: x already set"):
        broken_settings.combined_extra_vars(twice)


def test_a_setting_is_red_only_when_all_its_controls_fail(tmp_path):
    control = by_id()["NET-FW-3306"]
    checks = [CheckId.parse(check) for check in control["checks"]]
    cases = "".join(
        f'<testcase classname="{check.classname}" name="{check.function}[podman://tsunagu-db1]">'
        + ('<failure message="3306 reachable from the host"/>' if check == checks[0] else "")
        + "</testcase>" for check in checks)
    junit = tmp_path / "infra.xml"
    junit.write_text(f'<testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>', encoding="utf-8")
    assert read_junit(junit)[1]
    setting = {"id": "s", "removed": {}, "extra_vars": {}, "expect_red": ["NET-FW-3306"]}
    assert broken_settings.verdicts([setting], junit)[0]["red"] is True
    junit.write_text(junit.read_text(encoding="utf-8").replace('<failure message="3306 reachable from the host"/>', ""),
                     encoding="utf-8")
    assert broken_settings.verdicts([setting], junit)[0]["red"] is False
