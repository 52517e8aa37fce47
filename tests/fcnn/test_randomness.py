"""The network a student trains is the network the autograder grades: the same random numbers in both kernels.

The autograder seeds torch, numpy and random at the top of every cell it runs (otter's ``seed`` and ``SeedTorch``)
and skips the demo cells. The notebook's first cell makes the student's kernel do the same
(``graded_networks.seeding.seed_every_cell``). Here a regressor is built in one cell and trained with dropout and
shuffled mini-batches over two more, after a demo cell that draws random numbers (the student's kernel runs it, the
autograder skips it): the notebook run top to bottom as a student runs it and the same notebook graded must end with
identical weights, and the band graded is the one the student's own network earns.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest
import torch

from conftest import HELDOUT_PLUGIN, answer_cell_of
from fcnn_lesson.exercises import REGRESSION

pytestmark = pytest.mark.slow

CELLS = [
    ("torch.manual_seed(7)\n"
     "just_right_regressor = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))\n"
     "optimizer = optim.Adam(just_right_regressor.parameters(), lr=0.01)\n"
     "data = lesson_data()", False),
    ("# Demo: random numbers the student's kernel draws and the autograder never does\nnoise = torch.randn(10_000)", True),
    *[("for epoch in range(60):  # shuffled mini-batches, with dropout\n"
       "    just_right_regressor.train()\n"
       "    for batch in torch.randperm(len(data.x_reg)).split(16):\n"
       "        optimizer.zero_grad()\n"
       "        F.mse_loss(just_right_regressor(data.x_reg[batch]).squeeze(1), data.y_reg[batch]).backward()\n"
       "        optimizer.step()\n"
       "just_right_regressor.eval()", False)] * 2,
    ("torch.save(just_right_regressor.state_dict(), 'trained-weights.pt')", False),
]  # fmt: skip
"""The regression answer, spread over cells as students write it (``True``: a demo cell, skipped at grading)."""


def _notebook(kit) -> nbformat.NotebookNode:
    nb = nbformat.read(kit.solutions_notebook, as_version=4)
    # the lesson's own demos train for minutes: left out of both runs (the demo cell above stands for them)
    nb.cells = [c for c in nb.cells if "otter_ignore" not in c.metadata.get("tags", [])]
    (index,) = [i for i, c in enumerate(nb.cells) if answer_cell_of(c, REGRESSION.network) or (
        c.cell_type == "code" and f"{REGRESSION.network} = " in c.source and "train_" in c.source)]  # fmt: skip
    cells = [nbformat.v4.new_code_cell(source, metadata={"tags": ["otter_ignore"]} if demo else {}) for source, demo in CELLS]
    nb.cells[index : index + 1] = cells
    return nb


def test_the_student_trains_the_network_the_autograder_grades(kit, grade, tmp_path):
    from graded_networks.verdict import assess

    notebook = _notebook(kit)
    student = shutil.copytree(kit.student_dir, tmp_path / "student")
    nbformat.write(notebook, student / "fcnn.ipynb")
    run = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "--output", "executed.ipynb",
                          "--ExecutePreprocessor.timeout=600", "fcnn.ipynb"], cwd=student, capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    theirs = torch.load(student / "trained-weights.pt")

    graded = grade(student / "fcnn.ipynb")
    ours = torch.load(graded.results_path.parent.parent / "submission" / "trained-weights.pt")
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in theirs), "the graded network differs"

    with zipfile.ZipFile(kit.autograder_zip) as z:
        (settings,) = [p[HELDOUT_PLUGIN] for p in json.loads(z.read("otter_config.json"))["plugins"] if isinstance(p, dict) and HELDOUT_PLUGIN in p]
    network = torch.nn.Sequential(torch.nn.Linear(1, 64), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(64, 64),
                                  torch.nn.ReLU(), torch.nn.Linear(64, 1))  # fmt: skip
    network.load_state_dict(theirs)
    direct = assess(REGRESSION, network.eval(), int(settings["heldout_seeds"]["q_regression"]))
    assert graded.results["extra_data"]["questions"]["q_regression"]["band"] == direct.band


def test_the_notebook_seeds_as_the_autograder_does():
    """One seed, the engine's ``SEED``: the notebook's first cell seeds with it (no number of its own), otter's ``seed``
    must be it (``SeedTorch`` refuses to build a zip otherwise) and ``SeedTorch`` uses it."""
    import yaml

    from graded_networks.seeding import SEED
    from grading_engine.otter_plugins import SeedTorch
    from instructor.assign import REPO, assignment_names

    for name in assignment_names():
        nb = nbformat.read(REPO / "assignments" / name / f"{name}.ipynb", as_version=4)
        generate = yaml.safe_load(nb.cells[0].source)["generate"]
        assert "grading_engine.otter_plugins.SeedTorch" in generate["plugins"], name  # no setting of its own
        assert "seed_every_cell()" in next(c for c in nb.cells if c.cell_type == "code").source, name
        assert generate["seed"] == SEED, name
    with pytest.raises(ValueError, match="course's seed"):
        SeedTorch("sub.ipynb", {}, {}).during_generate({"seed": SEED + 1}, None)
