"""``scripts/pytest_groups.py``: how a group is read, and that one failing group fails the layer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pytest_groups.py"
spec = importlib.util.spec_from_file_location("pytest_groups", SCRIPT)
pytest_groups = importlib.util.module_from_spec(spec)
sys.modules["pytest_groups"] = pytest_groups  # dataclasses look their module up
spec.loader.exec_module(pytest_groups)


def test_a_group_is_environment_settings_then_paths():
    env, paths = pytest_groups.split_group("PIONEER_E2E_DB=postgres N=2 tests/e2e tests/x")
    assert env == {"PIONEER_E2E_DB": "postgres", "N": "2"}
    assert paths == ["tests/e2e", "tests/x"]
    assert pytest_groups.split_group("tests/e2e") == ({}, ["tests/e2e"])


def test_a_group_without_paths_is_refused():
    with pytest.raises(SystemExit, match="names no tests"):
        pytest_groups.split_group("A=1")


def test_the_layer_fails_when_one_group_fails(tmp_path, capsys):
    (tmp_path / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "test_bad.py").write_text("def test_bad():\n    assert 1 == 2\n")
    ok, bad = str(tmp_path / "test_ok.py"), str(tmp_path / "test_bad.py")
    assert pytest_groups.main(["--jobs", "2", ok, f"MARK=1 {bad}", "--", "-q"]) == 1
    report = capsys.readouterr().out
    assert "assert 1 == 2" in report  # the failing group's own output is shown whole
    assert "FAILED (exit 1)" in report and "passed" in report
    assert pytest_groups.main(["--jobs", "2", ok, "--", "-q"]) == 0
