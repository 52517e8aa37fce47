"""``Limits.hidden``: which paths the kernel must not see, found in this environment without importing them."""

from __future__ import annotations

import pathlib
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


def test_hiding_needs_root(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)  # as an ordinary user would grade
    with pytest.raises(sandbox.SandboxError, match="only grading as root"):
        sandbox.prepare(tmp_path, tmp_path, hidden=[pathlib.Path("/somewhere")])
