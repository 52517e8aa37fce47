"""The digits exercise's fairness corpus: honest networks written in the styles students bring get the grade they earn.

As for fcnn (``tests/fcnn/test_fairness.py``): each style's expected grade is what the engine's own verdict gives the
student's own network, built directly in this test and measured on the held-out digits from the zip; the autograder,
grading the notebook as Gradescope does, must give exactly that, and the notebook's own check must say what the
autograder's public test says. Set ``KIT_FAIRNESS_TABLE`` to a file to get the README's table rows.
"""

from __future__ import annotations

import json
import os
import zipfile

import nbformat
import pytest

from conftest import Grader, answer_cell_of, built_kit

pytestmark = pytest.mark.slow

NAME, GRADED, QUESTION = "digits", "digit_classifier", "q_digits"
POINTS = {"off": 0, "close": 2, "just right": 4}

STYLES: dict[str, str] = {
    "logits trained with nn.CrossEntropyLoss in a loop of one's own": """
digit_classifier = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
optimizer = torch.optim.Adam(digit_classifier.parameters(), lr=0.003)
for epoch in range(200):
    optimizer.zero_grad()
    nn.CrossEntropyLoss()(digit_classifier(train.x), train.y).backward()
    optimizer.step()
""",
    "a softmax head, its log taken for the loss": """
digit_classifier = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10), nn.Softmax(dim=1))
optimizer = torch.optim.Adam(digit_classifier.parameters(), lr=0.003)
for epoch in range(200):
    optimizer.zero_grad()
    nn.functional.nll_loss(torch.log(digit_classifier(train.x).clamp(min=1e-9)), train.y).backward()
    optimizer.step()
""",
    "a log-softmax head with nn.NLLLoss and the lesson's helper": """
digit_classifier = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10), nn.LogSoftmax(dim=1))
train_classifier(digit_classifier, train.x, train.y, num_epochs=150, lr=0.003, reporting_interval=0)
""",
    "standardised inside forward with buffers (the StandardScaler habit, done right)": """
class Standardised(nn.Module):
    def __init__(self, x):
        super().__init__()
        self.register_buffer("mean", x.mean(0))
        self.register_buffer("std", x.std(0) + 1e-6)
        self.net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)

digit_classifier = Standardised(train.x)
train_classifier(digit_classifier, train.x, train.y, num_epochs=150, lr=0.003, reporting_interval=0)
""",
    "shuffled mini-batches from a DataLoader, with dropout": """
from torch.utils.data import DataLoader, TensorDataset

digit_classifier = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
optimizer = torch.optim.Adam(digit_classifier.parameters(), lr=0.003)
for epoch in range(30):
    for xb, yb in DataLoader(TensorDataset(train.x, train.y), batch_size=64, shuffle=True):
        optimizer.zero_grad()
        nn.functional.cross_entropy(digit_classifier(xb), yb).backward()
        optimizer.step()
digit_classifier.eval()
""",
    "a residual block, images flattened with x.view(len(x), -1)": """
class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.block, self.out = nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 10)

    def forward(self, x):
        h = torch.relu(self.inp(x.view(len(x), -1)))
        return self.out(h + torch.relu(self.block(h)))

digit_classifier = Residual()
train_classifier(digit_classifier, train.x.view(-1, 8, 8), train.y, num_epochs=150, lr=0.003, reporting_interval=0)
""",
}


def _setup_cells(nb: nbformat.NotebookNode) -> list[str]:
    """The code a student's kernel has run before the exercise: every graded cell but otter's and the answer."""
    return [c.source for c in nb.cells if c.cell_type == "code" and "otter_ignore" not in c.metadata.get("tags", [])
            and "otter" not in c.source and "grader." not in c.source and not answer_cell_of(c, GRADED)]  # fmt: skip


@pytest.fixture(scope="session")
def digits_kit(tmp_path_factory):
    return built_kit(tmp_path_factory, NAME)


@pytest.fixture(scope="session")
def fairness(digits_kit, tmp_path_factory):
    from graded_networks.seeding import seed_every_cell

    student = nbformat.read(digits_kit.student_dir / f"{NAME}.ipynb", as_version=4)
    paths, built = {}, {}
    for i, (style, answer) in enumerate(STYLES.items()):
        nb = nbformat.read(digits_kit.student_dir / f"{NAME}.ipynb", as_version=4)
        (cell,) = [c for c in nb.cells if answer_cell_of(c, GRADED)]
        cell.source = answer.strip()
        paths[style] = tmp_path_factory.mktemp(f"digits-fair{i}") / f"{NAME}.ipynb"
        nbformat.write(nb, paths[style])
        namespace: dict = {}
        cwd = os.getcwd()
        os.chdir(digits_kit.student_dir)  # where the student's kernel runs
        try:
            for source in [*_setup_cells(student), answer]:
                seed_every_cell()  # as the student's kernel does before every cell
                exec(compile(source, "<cell>", "exec"), namespace)
        finally:
            os.chdir(cwd)
        built[style] = namespace[GRADED]
    graded = dict(zip(STYLES, Grader(digits_kit.autograder_zip, tmp_path_factory).many(list(paths.values()))))
    with zipfile.ZipFile(digits_kit.autograder_zip) as zf:
        config = json.loads(zf.read("otter_config.json"))
    (settings,) = [p["grading_engine.otter_plugins.HeldOutGrading"] for p in config["plugins"] if isinstance(p, dict)
                   and "grading_engine.otter_plugins.HeldOutGrading" in p]  # fmt: skip
    return graded, built, settings["heldout_data"][QUESTION]


@pytest.mark.parametrize("style", list(STYLES))
def test_an_honest_digits_style_gets_the_grade_its_network_earns(style, fairness):
    from digits_lesson.exercises import DIGITS
    from graded_networks import verdict

    graded, built, heldout = fairness
    direct = verdict.assess(DIGITS, built[style], 0, heldout)
    expected, given, check = 1 + POINTS[direct.band], graded[style].score(QUESTION), graded[style].notebook_check_passed(QUESTION)
    if os.environ.get("KIT_FAIRNESS_TABLE"):
        with open(os.environ["KIT_FAIRNESS_TABLE"], "a") as table:
            table.write(f"| {style} | {QUESTION} | {direct.band} | {given:g} of 5 | {'passes' if check else 'fails'} |\n")
    assert given == expected, graded[style].output(QUESTION)
    assert check is True and graded[style].public_test_passed(QUESTION) is True
