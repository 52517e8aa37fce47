"""``Limits.hidden``: which paths the kernel must not see, found in this environment without importing them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from grading_engine import sandbox


def test_a_package_data_folder_is_found_without_importing_the_package():
    (found,) = sandbox.package_paths(("sklearn/datasets/data",))
    assert (found / "digits.csv.gz").is_file()
    script = "import sys; from grading_engine import sandbox; sandbox.package_paths(('sklearn/x',)); print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_paths_that_do_not_exist_hide_nothing():
    assert sandbox.package_paths(("no_such_package_here/data", "sklearn/no/such/folder")) == []


def test_an_ordinary_user_without_a_box_grades_nothing_unless_the_notebooks_are_trusted(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)  # as an instructor on a laptop would grade
    monkeypatch.setenv(sandbox.BWRAP_ENV, "")  # no bubblewrap
    monkeypatch.delenv(sandbox.TRUST_ENV, raising=False)
    with pytest.raises(sandbox.SandboxError, match="--trust-notebooks"):
        sandbox.prepare(tmp_path, tmp_path)
    monkeypatch.setenv(sandbox.TRUST_ENV, "1")
    assert sandbox.prepare(tmp_path, tmp_path).box == []
    assert "as you said you trust them" in capsys.readouterr().err


def test_every_kernel_is_kept_from_the_data_sets_packages_ship():
    """Whatever its assignment: a notebook of one assignment must not read another's held-out data."""
    assert any(p.name == "data" and p.parent.name == "datasets" for p in sandbox.package_paths(sandbox.PACKAGED_DATA))
