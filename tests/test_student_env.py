"""Each handed-out folder stands alone: its one setup command gives a fresh environment that runs the notebook: its
first cells as handed out, then the solutions through every check and validation cell."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest

from instructor.assign import build

pytestmark = [pytest.mark.slow, pytest.mark.handout]  # not in `make test`, whose 10 minutes it would break


@dataclass(frozen=True)
class FirstCells:
    """How many of an assignment's first cells to run, and what they must have made."""

    assignment: str
    cells: int
    shown: str
    """An expression over what those cells defined, printed after them."""
    expected: str


FIRST_CELLS = [
    # otter's init cell, the imports (torch, the lesson's package), both data sets and the first model
    FirstCells("fcnn", 9, "x_reg.shape, x_clf.shape", "torch.Size([100, 1]) torch.Size([200, 2])"),
    # otter's init cell, the imports and the handed-out split (digits.npz, in the folder)
    FirstCells("digits", 5, "len(train.y), len(validation.y)", "898 299"),
]

RUN_FIRST_CELLS = """
import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells = nb.cells[:int(sys.argv[2])] + [nbformat.v4.new_code_cell(f"import sys; print('KERNEL', sys.prefix, {sys.argv[3]})")]
nbclient.NotebookClient(nb, kernel_name="python3", timeout=300).execute()
print(nb.cells[-1].outputs[0]["text"])
"""


RUN_CHECKS = """
import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
# what a student runs, less the demos (long trainings and animations; the autograder skips them too) and the export
demo = lambda c: "otter_ignore" in c.metadata.get("tags", []) and "validate" not in c.source
nb.cells = [c for c in nb.cells if c.cell_type == "code" and not demo(c) and "grader.export" not in c.source]
nbclient.NotebookClient(nb, kernel_name="python3", timeout=600).execute()
for cell in nb.cells:
    if "grader.check(" in cell.source or "validate" in cell.source:
        said = " ".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)
        print("CELL", cell.source.strip().splitlines()[-1], "SAID", " ".join(said.split()))
"""


@pytest.mark.parametrize("first", FIRST_CELLS, ids=lambda f: f.assignment)
def test_a_fresh_environment_set_up_from_the_folder_alone_runs_the_notebook(first, tmp_path):
    kit = build(first.assignment, out_root=tmp_path / "kit", self_check=False)
    folder = shutil.copytree(kit.student_dir, tmp_path / first.assignment)
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
        [str(venv / "bin" / "python"), "-c", RUN_FIRST_CELLS, f"{first.assignment}.ipynb", str(first.cells), first.shown],
        cwd=folder, capture_output=True, text=True, timeout=600,
    )
    # the kernel is the new environment's, and the lesson's data were made (or loaded) there
    expected = f"KERNEL {venv} {first.expected}"
    assert ran.returncode == 0 and expected in ran.stdout, ran.stdout[-2000:] + ran.stderr[-3000:]

    # the solutions in the handed-out folder's place: every public check passes and every validation cell says the
    # hidden test would pass, in the student's environment, with the folder's own copy of the engine
    shutil.copy(kit.solutions_notebook, folder / f"{first.assignment}.ipynb")
    ran = subprocess.run([str(venv / "bin" / "python"), "-c", RUN_CHECKS, f"{first.assignment}.ipynb"],
                         cwd=folder, capture_output=True, text=True, timeout=900)  # fmt: skip
    said = [line for line in ran.stdout.splitlines() if line.startswith("CELL ")]
    assert ran.returncode == 0 and said, ran.stdout[-2000:] + ran.stderr[-3000:]
    checks, validations = [s for s in said if "grader.check(" in s], [s for s in said if "validate" in s]
    assert checks and all("passed" in s and "❌" not in s for s in checks), "\n".join(checks)
    assert validations and all("would pass the hidden test" in s for s in validations), "\n".join(validations)
