"""The handed-out folder stands alone: its one setup command gives a fresh environment that runs the notebook."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import ASSIGNMENT

pytestmark = [pytest.mark.slow, pytest.mark.handout]  # not in `make test`, whose 10 minutes it would break

FIRST_CELLS = 9
"""Otter's init cell, the imports (torch, the lesson's package), both data sets and the first model."""

RUN_FIRST_CELLS = """
import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells = nb.cells[:int(sys.argv[2])] + [nbformat.v4.new_code_cell("import sys; print('KERNEL', sys.prefix, x_reg.shape, x_clf.shape)")]
nbclient.NotebookClient(nb, kernel_name="python3", timeout=300).execute()
print(nb.cells[-1].outputs[0]["text"])
"""


def test_a_fresh_environment_set_up_from_the_folder_alone_runs_the_first_cells(kit, tmp_path):
    folder = shutil.copytree(kit.student_dir, tmp_path / ASSIGNMENT)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The command the folder's README gives. PyTorch's CPU index is out of these machines' reach (only the package
    # registries are), so its line is left out here: the same pins then come from PyPI and this machine's CPU wheel.
    lines = (folder / "student-requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    offline = tmp_path / "requirements.txt"
    offline.write_text("\n".join(line for line in lines if not line.startswith("--extra-index-url")))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", "-r", str(offline)]
    installed = subprocess.run(pip, capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    ran = subprocess.run(
        [str(venv / "bin" / "python"), "-c", RUN_FIRST_CELLS, f"{ASSIGNMENT}.ipynb", str(FIRST_CELLS)],
        cwd=folder, capture_output=True, text=True, timeout=600,
    )
    # the kernel is the new environment's, and the lesson's data were made there
    expected = f"KERNEL {venv} torch.Size([100, 1]) torch.Size([200, 2])"
    assert ran.returncode == 0 and expected in ran.stdout, ran.stdout[-2000:] + ran.stderr[-3000:]
