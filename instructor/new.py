"""Start a new assignment: a master notebook wired to the grading engine, with one small working exercise.

    python -m instructor.new NAME        (what `make new A=NAME` runs)

Writes ``assignments/NAME/``:

- ``NAME.ipynb``: the master (Otter Assign format) whose config names the engine's plugins and the lesson's
  exercise; its one exercise fits a line to noisy points and is graded on held-out points;
- ``NAME_lesson/``: the lesson's own code, which the engine knows nothing about: ``exercises.py`` (the graded
  name, the hooks, the marks and the limits), ``data.py`` and ``grading.py`` (the public check and the
  held-out assessment);
- ``requirements.txt``: the grading image's packages, pinned as this repository pins them, and the engine;
- ``student-requirements.txt`` and ``README.md``: what the handed-out folder needs to stand alone;
- links to ``engine/`` and ``engine/graded_networks``, which the master's config ships to the zip and the students.

Then ``make assign A=NAME`` builds it and grades its solutions to full marks. Replace the lesson with yours.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

import nbformat

from instructor import pins as image_pins
from instructor.assign import REPO

IMAGE_PACKAGES = ("numpy", "matplotlib", "nbformat", "nbconvert", "nbclient", "ipykernel", "jupyter_client", "pyzmq", "pandas")
"""What a grading image needs besides otter (which otter adds) and torch (from PyTorch's CPU-only index); the guards'
packages among them (grading_engine.safeguards.GUARDED_PACKAGES) must be pinned, or the zip grades nothing."""
STUDENT_PACKAGES = ("torch", "numpy", "matplotlib", "otter-grader", "jupyterlab", "ipykernel", "nbformat")
"""What a student's environment needs to run the notebook and its checks."""


def _pins() -> dict[str, str]:
    return dict(line.split("==", 1) for line in (REPO / "requirements.txt").read_text().splitlines() if "==" in line)


def student_requirements() -> str:
    """The students' requirements (``student-requirements.txt``), pinned at this repository's versions."""
    pins = _pins()
    lines = [
        "# What the notebook needs, pinned as the course tests it: pip install -r student-requirements.txt",
        "# (CPU-only PyTorch from PyTorch's own index on Linux and Windows; macOS gets the regular, CPU-only build).",
        "--extra-index-url https://download.pytorch.org/whl/cpu",
        *(f"{name}=={pins[name]}" for name in STUDENT_PACKAGES),
    ]
    return "\n".join(lines) + "\n"


def grading_requirements() -> str:
    """The grading image's requirements, pinned at this repository's own versions (``requirements.txt``)."""
    pins = _pins()
    lines = [
        "# The Gradescope grading image (otter adds otter-grader itself). torch comes from PyTorch's CPU-only index.",
        "--extra-index-url https://download.pytorch.org/whl/cpu",
        f"torch=={pins['torch']}+cpu",
        *(f"{name}=={pins[name]}" for name in IMAGE_PACKAGES),
        "# the course's grading engine, from the zip (the master's autograder_files): otter loads its plugins by name",
        "/autograder/source/files/engine",
    ]
    return "\n".join(lines) + "\n"


def scaffold(name: str, assignments: pathlib.Path = REPO / "assignments") -> pathlib.Path:
    """Write a new assignment ``name`` under ``assignments`` and return its folder."""
    if not name.isidentifier() or name != name.lower():
        raise SystemExit(f"{name!r}: use a lower-case Python name (letters, digits, underscores), e.g. digits")
    folder = assignments / name
    if folder.exists():
        raise SystemExit(f"{folder} exists already")
    lesson = folder / f"{name}_lesson"
    lesson.mkdir(parents=True)
    for file, text in _LESSON.items():
        (lesson / file).write_text(text.replace("LESSON", f"{name}_lesson"))
    (folder / "requirements.txt").write_text(grading_requirements())
    image_pins.write(folder / "requirements.txt")  # and everything those and otter pull in (make pins)
    (folder / "student-requirements.txt").write_text(student_requirements())
    (folder / "README.md").write_text(
        f"# {name}\n\nSet up once, in this folder: `pip install -r student-requirements.txt` (in a virtual environment of "
        f"its own), then `jupyter lab {name}.ipynb`. Run the last cell and upload the zip it writes to Gradescope.\n"
    )
    for link, target in (("engine", REPO / "engine"), ("graded_networks", REPO / "engine" / "graded_networks")):
        (folder / link).symlink_to(os.path.relpath(target, folder))
    nbformat.write(master_notebook(name), folder / f"{name}.ipynb")
    return folder


def master_notebook(name: str) -> nbformat.NotebookNode:
    """The master: config, a short lesson, and one graded exercise (public check, two hidden band cases)."""
    lesson = f"{name}_lesson"
    v4 = nbformat.v4
    hidden = '''""" # BEGIN TEST CONFIG
points: 2
hidden: true
""" # END TEST CONFIG
def test_line_model_heldout_BAND(line_model):
    # A placeholder: the engine's HeldOutGrading measures the network outside the notebook and replaces this
    # result; the hidden cases, in order, are the bands "close" and "just right".
    raise AssertionError("held-out grading did not run: please tell your instructor")
'''
    cells = [
        v4.new_raw_cell(_CONFIG.replace("NAME", name).replace("LESSON", lesson)),
        v4.new_markdown_cell(
            f"# {name}\n\nA new assignment made by `make new`: one exercise, graded on held-out data by the course's "
            "grading engine. Replace this lesson with yours (the notebook, and the code in "
            f"`{lesson}/`)."
        ),
        v4.new_code_cell(
            f"import torch\nfrom torch import nn\n\nfrom {lesson}.data import training_data\nfrom {lesson}.grading import show_rules\n"
            "from graded_networks.epochs import record_epochs\n\n"
            "x_train, y_train = training_data()"
        ),
        v4.new_markdown_cell("## Exercise: fit a line\n\nBuild `line_model`, a network with one `nn.Linear(1, 1)` layer, and train it on "
                             "`(x_train, y_train)` with a mean squared error loss."),
        v4.new_code_cell("show_rules()  # how this exercise is graded: the autograder's own settings"),
        v4.new_raw_cell("# BEGIN QUESTION\nname: q_line\npoints: 5"),
        v4.new_raw_cell("# BEGIN SOLUTION"),
        v4.new_code_cell(
            "torch.manual_seed(0)  # the same initial weights every run, here and in the autograder\n\n"
            "# BEGIN SOLUTION NO PROMPT\n"
            "line_model = nn.Linear(1, 1)\n"
            "optimizer = torch.optim.SGD(line_model.parameters(), lr=0.1)\n"
            "for epoch in range(300):\n"
            "    optimizer.zero_grad()\n"
            "    loss = ((line_model(x_train) - y_train) ** 2).mean()\n"
            "    loss.backward()\n"
            "    optimizer.step()\n"
            "record_epochs(line_model, 300)  # the exercise's training budget is checked on this count\n"
            "# END SOLUTION\n"
            '""" # BEGIN PROMPT\n'
            "line_model = ...  # your network, trained on (x_train, y_train)\n"
            '"""; # END PROMPT'
        ),
        v4.new_raw_cell("# END SOLUTION"),
        v4.new_raw_cell("# BEGIN TESTS"),
        v4.new_code_cell(
            '""" # BEGIN TEST CONFIG\npoints: 1\nfailure_message: "line_model is not ready to grade: read the error below."\n'
            '""" # END TEST CONFIG\n'
            "def test_line_model_is_ready(line_model):\n"
            f"    from {lesson}.grading import check_line_model\n"
            "    check_line_model(line_model)\n\n"
            "test_line_model_is_ready(line_model)  # IGNORE"
        ),
        v4.new_code_cell(hidden.replace("BAND", "close")),
        v4.new_code_cell(hidden.replace("BAND", "just_right")),
        v4.new_raw_cell("# END TESTS"),
        v4.new_raw_cell("# END QUESTION"),
    ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


_CONFIG = """\
# ASSIGNMENT CONFIG
# Build with `make assign A=NAME` or plain `otter assign NAME.ipynb DIST`; see the README.
name: NAME
requirements: requirements.txt
python_version: "3.11"
files:  # what the student's kernel imports, and how to set it up
  - LESSON
  - graded_networks
  - README.md
  - student-requirements.txt
autograder_files:  # the grading engine, which the image pip-installs (requirements.txt names it)
  - engine
init_cell: true
check_all_cell: true
export_cell:
  pdf: false
tests:
  files: true
  ok_format: false
generate:
  seed: 42
  show_hidden: true
  plugins:
    - grading_engine.otter_plugins.GuardedGrading:
        limits: LESSON.exercises.LIMITS
    - grading_engine.otter_plugins.SeedTorch
    - grading_engine.otter_plugins.LeanKernel
    - grading_engine.otter_plugins.HeldOutGrading:
        questions:
          q_line: LESSON.exercises.LINE
"""

_LESSON = {
    "__init__.py": '"""The lesson\'s own code: what it grades (``exercises``), its data and its checks (``grading``)."""\n',
    "exercises.py": '''"""What the autograder grades, its marks and its limits: the one place each lives (no torch: read before grading)."""

from graded_networks.exercise import Diagnosis, GradedExercise, Limits
from graded_networks.marks import Mark, Metric

LIMITS = Limits(time_s=120, memory_mb=1536)
"""This assignment's limits: the autograder enforces them and the notebook states them."""

N_HELDOUT = 10_000
"""Held-out points per assessment."""

LINE = GradedExercise(
    network="line_model",
    example_input="LESSON.data.training_inputs",
    assess="LESSON.grading.assess",
    metrics=(Metric("heldout_mse", "held-out MSE"), Metric("train_mse", "training MSE"), Metric("noise_mse", "MSE of the noise alone")),
    # the noise alone gives 0.25: "just right" near it, "close" a little further
    marks=(Mark("just right", "heldout_mse", at_most=0.3), Mark("close", "heldout_mse", at_most=0.5)),
    diagnosis=Diagnosis(
        train="train_mse",
        heldout="heldout_mse",
        floor="noise_mse",
        advice={"overfit": "Train it for fewer epochs.", "underfit": "Train it longer or with another learning rate."},
    ),
    heldout_sample=f"{N_HELDOUT:,} new points",
    validation_sample="the training points",
    max_epochs=1_000,
)
''',
    "data.py": '''"""The lesson's data: y = 3x - 1 plus Gaussian noise (SD 0.5), x uniform on [-2, 2]."""

import torch

NOISE_SD = 0.5


def sample(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points ``(x, y)``, each of shape ``(n, 1)``."""
    x = torch.rand(n, 1, generator=generator) * 4 - 2
    return x, 3 * x - 1 + NOISE_SD * torch.randn(n, 1, generator=generator)


def training_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The 64 training points every student gets."""
    return sample(64, torch.Generator().manual_seed(0))


def training_inputs() -> torch.Tensor:
    """The inputs a graded network is described on."""
    return training_data()[0]
''',
    "grading.py": '''"""The exercise's measurements: the public check (in the notebook) and the held-out metrics (in the autograder's
process). The engine applies the marks (``exercises.py``) and writes the messages."""

import torch
from graded_networks import verdict
from graded_networks.networks import SubmissionError, evaluate

from .data import NOISE_SD, sample, training_data
from .exercises import LIMITS, LINE, N_HELDOUT


def _mse(network, x: torch.Tensor, y: torch.Tensor) -> float:
    out = evaluate(network, x, LINE.network)
    if out.shape != (x.shape[0], 1):
        raise SubmissionError(f"`{LINE.network}` must return one prediction per point, shape (n, 1); it returned {tuple(out.shape)}")
    return ((out - y.double()) ** 2).mean().item()


def check_line_model(model) -> None:
    """Public check: the network is gradable and beats predicting the mean. Raises AssertionError saying what to fix."""
    x, y = training_data()
    network = verdict.checked(LINE, model, x)
    try:
        train_mse = _mse(network, x, y)
    except SubmissionError as e:
        raise AssertionError(str(e)) from None
    assert train_mse < y.var().item(), f"`{LINE.network}` has training MSE {train_mse:.2f}: train it first."


def assess(network, heldout_seed: int) -> dict[str, float]:
    """The hidden test's metrics: MSE on held-out points drawn with the autograder's secret seed."""
    x, y = sample(N_HELDOUT, torch.Generator().manual_seed(heldout_seed))
    return {"heldout_mse": _mse(network, x, y), "train_mse": _mse(network, *training_data()), "noise_mse": NOISE_SD**2}


def show_rules() -> None:
    """How the exercise is graded, from the autograder's own settings."""
    from IPython.display import Markdown, display

    check = "the network exists and beats predicting the mean"
    display(Markdown(verdict.rules(LINE, LIMITS, check=check)))
''',
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the assignment's name: its folder, notebook and lesson package")
    args = parser.parse_args(argv)
    folder = scaffold(args.name)
    print(f"[new] wrote {folder.relative_to(REPO)}/: build it with `make assign A={args.name}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
