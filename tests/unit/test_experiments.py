"""The defence-removal experiments (security/experiments.yaml, security/experiments.py): the file names real
controls, checks and code, and the runner tells a red run from a green or a broken one. The runner is tried on a
tiny synthetic tree, never on the real suite (`python -m security.experiments` does that)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from security import experiments as ex
from tests.unit.test_control_catalog import IPA_CATEGORIES, by_id, missing_check

BANDIT_ID = re.compile(r"^B\d{3}$")


def all_experiments() -> list[ex.Experiment]:
    return ex.load()


# --- the experiments file --------------------------------------------------------------------------

def test_every_ipa_category_has_an_experiment():
    covered = {experiment.control for experiment in all_experiments()}
    assert [name for name, control in IPA_CATEGORIES.values() if control not in covered] == []


def test_ids_are_unique_and_each_names_a_catalog_control_and_one_of_its_ipa_items():
    ids = [experiment.id for experiment in all_experiments()]
    assert len(ids) == len(set(ids))
    controls = by_id()
    for experiment in all_experiments():
        assert experiment.control in controls, experiment.id
        cited = {r["ref"] for r in controls[experiment.control]["requirements"] if r["standard"] == "ipa-web"}
        assert experiment.ipa in cited, f"{experiment.id}: IPA {experiment.ipa} is not cited by {experiment.control}"
        assert experiment.removed["ja"].strip() and experiment.removed["en"].strip(), experiment.id


def test_every_check_is_one_of_the_controls_checks_and_names_a_real_test():
    controls = by_id()
    for experiment in all_experiments():
        assert experiment.checks, experiment.id
        if experiment.tool == "bandit":
            assert all(BANDIT_ID.match(check) for check in experiment.checks), experiment.id
            continue
        assert experiment.tool == "pytest", experiment.id
        for check in experiment.checks:
            assert check in controls[experiment.control]["checks"], f"{experiment.id}: {check} not in the control"
            assert missing_check(check) is None, f"{experiment.id}: {missing_check(check)}"


def test_every_mutation_applies_to_the_current_tree_exactly_once():
    problems = [f"{e.id}: {p}" for e in all_experiments() if (p := ex.mutation_problem(e.mutation, ex.ROOT))]
    assert problems == []


def test_every_mutation_changes_something_and_python_still_compiles(tmp_path):
    for experiment in all_experiments():
        mutation = experiment.mutation
        assert mutation.find != mutation.replace, experiment.id
        target = tmp_path / experiment.id / mutation.file
        target.parent.mkdir(parents=True)
        target.write_text((ex.ROOT / mutation.file).read_text(encoding="utf-8"), encoding="utf-8")
        ex.apply(mutation, tmp_path / experiment.id)
        assert ex.syntax_problem(tmp_path / experiment.id, mutation.file) is None


def test_a_stale_experiment_stops_the_run_naming_the_file_and_the_text(tmp_path, capsys):
    spec = tmp_path / "experiments.yaml"
    spec.write_text(textwrap.dedent("""\
        experiments:
          - id: stale-one
            control: WEB-XSS
            ipa: "5-(i)"
            removed: {ja: 消えた防御, en: a defence that moved}
            mutation: {file: app/core/security.py, find: "no longer in this file", replace: ""}
            checks: [tests/integration/test_web_hardening.py::test_registrant_names_are_escaped_on_admin_pages]
        """), encoding="utf-8")
    assert ex.main(["--spec", str(spec), "--out", str(tmp_path / "out.json")]) == 2
    error = capsys.readouterr().err
    assert "stale-one: app/core/security.py" in error and "'no longer in this file'" in error
    assert not (tmp_path / "out.json").exists()


def test_a_text_found_twice_is_stale_too(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\nx = 1\n", encoding="utf-8")
    assert "occurs 2 times" in ex.mutation_problem(ex.Mutation("a.py", "x = 1\n", ""), tmp_path)
    with pytest.raises(ex.StaleExperiment, match=r"a\.py"):
        ex.apply(ex.Mutation("a.py", "x = 1\n", ""), tmp_path)


# --- the runner on a synthetic tree --------------------------------------------------------------------

DEFENCE = 'def clean(text):\n    return text.replace("<", "&lt;")\n'
TESTS = '''\
import pytest
from app.defence import clean


def test_escapes():
    assert clean("<b>") == "&lt;b>", "markup got through"


def test_unrelated():
    assert True


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


def test_with_broken_fixture(broken):
    assert True
'''


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A tiny project: app/defence.py with one defence, tests/test_defence.py checking it."""
    root = tmp_path / "project"
    for name, text in {"app/__init__.py": "", "app/defence.py": DEFENCE, "tests/__init__.py": "",
                       "tests/test_defence.py": TESTS}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def experiment(*checks: str, find: str = '.replace("<", "&lt;")', replace: str = "") -> ex.Experiment:
    return ex.Experiment("synthetic", "WEB-XSS", "5-(i)", {"ja": "エスケープなし", "en": "no escaping"},
                         ex.Mutation("app/defence.py", find, replace), checks)


FILES = ["app/__init__.py", "app/defence.py", "tests/__init__.py", "tests/test_defence.py"]
ESCAPES = "tests/test_defence.py::test_escapes"


def test_a_failed_assertion_is_red_with_the_failing_test_and_its_message(tree):
    result = ex.run_experiment(experiment(ESCAPES), tree, FILES, baseline={})
    assert (result.status, result.exit_code) == ("red", 1)
    assert result.red_checks == [ESCAPES] and result.failing_tests == [ESCAPES]
    assert "markup got through" in result.excerpt and "def test_escapes" not in result.excerpt
    assert result.seconds > 0
    assert (tree / "app/defence.py").read_text(encoding="utf-8") == DEFENCE  # the mutation stayed in the copy


def test_a_mutation_no_check_notices_is_not_red(tree):
    result = ex.run_experiment(experiment("tests/test_defence.py::test_unrelated"), tree, FILES, baseline={})
    assert (result.status, result.exit_code) == ("not-red", 0)
    assert result.red_checks == []


def test_one_check_staying_green_keeps_the_experiment_from_red(tree):
    result = ex.run_experiment(experiment(ESCAPES, "tests/test_defence.py::test_unrelated"), tree, FILES, baseline={})
    assert (result.status, result.exit_code) == ("not-red", 1)
    assert "test_unrelated" in result.reason and result.red_checks == [ESCAPES]


def test_an_error_in_a_fixture_is_invalid_not_red(tree):
    result = ex.run_experiment(experiment("tests/test_defence.py::test_with_broken_fixture"), tree, FILES,
                               baseline={})
    assert (result.status, result.exit_code) == ("invalid", 1)
    assert "errored" in result.reason


@pytest.mark.parametrize("broken", [
    {"tests/test_defence.py": "import nowhere_to_be_found\n"},
    {"tests/test_defence.py": "def test_(:\n"},
    {"tests/conftest.py": "raise ImportError('conftest broke')\n"},
    {"tests/test_defence.py": "\n"},
], ids=["import-error", "syntax-error", "broken-conftest", "test-gone"])
def test_a_check_that_cannot_be_collected_is_invalid(tree, broken):
    """pytest reports the error and exits 4 (no collector for the node id): invalid, never red."""
    for name, text in broken.items():
        (tree / name).write_text(text, encoding="utf-8")
    result = ex.run_experiment(experiment(ESCAPES), tree, [*FILES, *broken], baseline={})
    assert (result.status, result.exit_code) == ("invalid", 4)
    assert "exit 4: usage error" in result.reason and result.red_checks == []


@pytest.mark.parametrize("exit_code", [2, 3, 4, 5])
def test_only_exit_1_can_be_red(exit_code):
    run = ex.Run(exit_code, [ex.CheckOutcome(ESCAPES, "red", [ESCAPES], "assert False")])
    status, reason = ex.classify(run)
    assert status == "invalid" and reason.startswith(f"exit {exit_code}: ")
    assert ex.classify(ex.Run(1, run.checks)) == ("red", "all 1 checks red")


def test_a_mutation_that_breaks_python_is_invalid_before_any_check_runs(tree):
    result = ex.run_experiment(experiment(ESCAPES, replace="(("), tree, FILES, baseline={})
    assert result.status == "invalid" and "does not compile" in result.reason and result.exit_code is None


def test_a_check_already_red_without_the_mutation_makes_the_experiment_invalid(tree):
    (tree / "app/defence.py").write_text(DEFENCE.replace('"&lt;"', '"<"'), encoding="utf-8")
    baseline = ex.run_baseline([experiment(ESCAPES)], tree, FILES)
    assert list(baseline) == [ESCAPES] and "red without the mutation" in baseline[ESCAPES]
    (tree / "app/defence.py").write_text(DEFENCE.replace('"&lt;"', '"<"') + "# ", encoding="utf-8")
    result = ex.run_experiment(experiment(ESCAPES, find="# ", replace="#"), tree, FILES, baseline)
    assert result.status == "invalid" and "unmutated" in result.reason


def test_the_bandit_gate_turns_red_on_a_shell_call(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "fonts.py").write_text(
        'import subprocess\n\ndef fc(name):\n    return subprocess.run(f"fc-match {name}", shell=True)\n',
        encoding="utf-8")
    run = ex.run_bandit(tmp_path, ("B602", "B605"))
    assert run.exit_code == 1
    assert [(c.check, c.status) for c in run.checks] == [("B602", "red"), ("B605", "green")]
    assert run.checks[0].failing == ["B602 app/fonts.py:4"]


def test_the_summary_passes_only_when_every_experiment_is_red(tree, tmp_path):
    red = ex.run_experiment(experiment(ESCAPES), tree, FILES, baseline={})
    green = ex.run_experiment(experiment("tests/test_defence.py::test_unrelated"), tree, FILES, baseline={})
    assert ex.summary_json([red], 1.0, None)["status"] == "pass"
    assert ex.summary_json([red, green], 1.0, None)["status"] == "fail"
    assert ex.summary_json([], 1.0, None)["status"] == "fail"
    written = json.loads(json.dumps(ex.summary_json([red], 1.0, 0.5)))
    assert written["experiments"][0]["failing_tests"] == [ESCAPES] and written["baseline_seconds"] == 0.5
