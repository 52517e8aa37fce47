"""Issue #11's fairness corpus: honest networks written in many styles get the grade they earn.

Each submission answers both exercises in a different style. The expected grade of each network is what
the grader's own assessment gives **the same network built directly in this test** (the student's own
object, not a rebuilt one); the autograder, grading the notebook through the zip as Gradescope does, must
give exactly that. The notebook's own check (as it ran in the notebook) must say what the autograder's
public test says, and the validation cell's band must be the hidden band whenever the two measurements
fall on the same side of every mark.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import zipfile

import matplotlib
import nbformat
import pytest

from conftest import GRADED_NAMES, HELDOUT_PLUGIN, answer_cell_of
from fcnn_lesson import grading
from fcnn_lesson.exercises import CLASSIFICATION, REGRESSION
from graded_networks import verdict

pytestmark = pytest.mark.slow  # grades real notebooks with the built zip

matplotlib.use("agg")

POINTS = {"off": 0, "close": 2, "just right": 4}
"""Hidden points per band (two hidden cases of 2 points: "close" passes the first, "just right" both)."""

REG, CLF = "q_regression", "q_classification"

STYLES: dict[str, dict[str, str]] = {
    "dropout / class with torch.sigmoid and F.relu": {
        REG: """
torch.manual_seed(42)
just_right_regressor = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Dropout(0.1), nn.Linear(32, 1))
train_and_test_regression_model(just_right_regressor, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
""",
        CLF: """
torch.manual_seed(42)

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        return torch.sigmoid(self.out(F.relu(self.hidden(x))))

just_right_classifier = Classifier()
train_and_test_classification_model(just_right_classifier, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
""",
    },
    "LeakyReLU(0.1) / lesson loop with optim.SGD and the lesson's cross-entropy": {
        REG: """
torch.manual_seed(42)
just_right_regressor = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.1), nn.Linear(32, 1))
train_and_test_regression_model(just_right_regressor, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1), nn.Sigmoid())
optimizer = optim.SGD(just_right_classifier.parameters(), lr=0.5)
for i in range(3000):
    optimizer.zero_grad()
    y_hat = just_right_classifier(x_clf).squeeze()
    loss = (-y_clf_int * torch.log(y_hat) - (1 - y_clf_int) * torch.log(1 - y_hat)).mean()
    loss.backward()
    optimizer.step()
""",
    },
    "class with torch.tanh and one reused activation module / batch norm": {
        REG: """
torch.manual_seed(42)

class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(1, 16)
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 1)
        self.act = nn.Tanh()  # defined after the layers, used twice

    def forward(self, x):
        x = torch.tanh(self.fc1(x))
        x = self.act(self.fc2(x))
        return self.fc3(self.act(x))

just_right_regressor = Regressor()
train_and_test_regression_model(just_right_regressor, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
train_and_test_classification_model(just_right_classifier, num_epochs=1000, reporting_interval=0, lr=0.01, optimizer="adam")
""",
    },
    "lesson loop with optim.SGD and torch.mean / device-agnostic .to(device)": {
        REG: """
torch.manual_seed(42)
just_right_regressor = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
optimizer = optim.SGD(just_right_regressor.parameters(), lr=0.05)
for i in range(4000):
    optimizer.zero_grad()
    y_hat = just_right_regressor(x_reg).squeeze()
    loss = torch.mean((y_hat - y_reg) ** 2)
    loss.backward()
    optimizer.step()
""",
        CLF: """
torch.manual_seed(42)
device = "cuda" if torch.cuda.is_available() else "cpu"
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid()).to(device)
x_dev, y_dev = x_clf.to(device), y_clf.float().to(device)
optimizer = torch.optim.Adam(just_right_classifier.parameters(), lr=0.01)
for epoch in range(1500):
    optimizer.zero_grad()
    loss = F.binary_cross_entropy(just_right_classifier(x_dev).squeeze(1), y_dev)
    loss.backward()
    optimizer.step()
""",
    },
    "AdamW with weight decay / PReLU": {
        REG: """
torch.manual_seed(42)
just_right_regressor = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
optimizer = torch.optim.AdamW(just_right_regressor.parameters(), lr=0.01, weight_decay=0.01)
for epoch in range(1500):
    optimizer.zero_grad()
    loss = F.mse_loss(just_right_regressor(x_reg).squeeze(-1), y_reg)
    loss.backward()
    optimizer.step()
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.PReLU(), nn.Linear(16, 1), nn.Sigmoid())
train_and_test_classification_model(just_right_classifier, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
""",
    },
    "ModuleList loop returning (n,) / LayerNorm and GELU": {
        REG: """
torch.manual_seed(42)

class Deep(nn.Module):
    def __init__(self, widths=(1, 16, 16)):
        super().__init__()
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(widths[-1], 1)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        for layer in self.hidden:
            x = F.elu(layer(x))
        return self.out(x).squeeze(-1)

just_right_regressor = Deep()
train_and_test_regression_model(just_right_regressor, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 1), nn.Sigmoid())
train_and_test_classification_model(just_right_classifier, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
""",
    },
    "float64 hand loop / functional leaky_relu and F.dropout in a class": {
        REG: """
torch.manual_seed(42)
just_right_regressor = nn.Sequential(nn.Linear(1, 32), nn.Softplus(beta=2), nn.Linear(32, 1)).double()
optimizer = torch.optim.Adam(just_right_regressor.parameters(), lr=0.01)
for epoch in range(1500):
    optimizer.zero_grad()
    loss = ((just_right_regressor(x_reg.double()).squeeze(1) - y_reg.double()) ** 2).mean()
    loss.backward()
    optimizer.step()
""",
        CLF: """
torch.manual_seed(42)

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(2, 16), nn.Linear(16, 1)

    def forward(self, x):
        h = F.dropout(F.leaky_relu(self.fc1(x), 0.05), 0.1, self.training)
        return self.fc2(h).sigmoid()

just_right_classifier = Classifier()
train_and_test_classification_model(just_right_classifier, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
just_right_classifier.eval()
""",
    },
    "over-capacity regressor / logistic regression (both off, with advice)": {
        REG: """
torch.manual_seed(2)
just_right_regressor = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
train_and_test_regression_model(just_right_regressor, num_epochs=3000, reporting_interval=0, lr=0.01, optimizer="adam")
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
train_and_test_classification_model(just_right_classifier, num_epochs=1000, reporting_interval=0, lr=0.1)
""",
    },
    "batch norm with dropout regressor / clamp as ReLU": {
        REG: """
torch.manual_seed(42)
just_right_regressor = nn.Sequential(nn.Linear(1, 32), nn.BatchNorm1d(32), nn.Tanh(), nn.Dropout(0.05), nn.Linear(32, 1))
train_and_test_regression_model(just_right_regressor, num_epochs=1000, reporting_interval=0, lr=0.01, optimizer="adam")
""",
        CLF: """
torch.manual_seed(42)

class Clamped(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(2, 16), nn.Linear(16, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc2(self.fc1(x).clamp(min=0)))

just_right_classifier = Clamped()
train_and_test_classification_model(just_right_classifier, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
""",
    },
    "scaling inside forward with buffers / one logit trained with BCEWithLogitsLoss": {
        REG: """
torch.manual_seed(42)

class Standardised(nn.Module):
    def __init__(self, x):
        super().__init__()
        self.register_buffer("mean", x.mean(0))
        self.register_buffer("std", x.std(0))
        self.net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)

just_right_regressor = Standardised(x_reg)
optimizer = optim.Adam(just_right_regressor.parameters(), lr=0.01)
for epoch in range(1500):
    optimizer.zero_grad()
    loss = F.mse_loss(just_right_regressor(x_reg).squeeze(1), y_reg)
    loss.backward()
    optimizer.step()
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))  # logits: no sigmoid
optimizer = optim.Adam(just_right_classifier.parameters(), lr=0.01)
loss_fn = nn.BCEWithLogitsLoss()
for epoch in range(1500):
    optimizer.zero_grad()
    loss = loss_fn(just_right_classifier(x_clf).squeeze(1), y_clf.float())
    loss.backward()
    optimizer.step()
""",
    },
    "a residual block / two logits trained with CrossEntropyLoss": {
        REG: """
torch.manual_seed(42)

class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.block, self.out = nn.Linear(1, 16), nn.Linear(16, 16), nn.Linear(16, 1)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        h = h + torch.tanh(self.block(h))  # a skip connection
        return self.out(h)

just_right_regressor = Residual()
train_and_test_regression_model(just_right_regressor, num_epochs=1200, reporting_interval=0, lr=0.01, optimizer="adam")
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))  # one logit per class
optimizer = optim.Adam(just_right_classifier.parameters(), lr=0.01)
for epoch in range(1500):
    optimizer.zero_grad()
    loss = nn.CrossEntropyLoss()(just_right_classifier(x_clf), y_clf.long())
    loss.backward()
    optimizer.step()
""",
    },
    "x divided by a constant and x.view(len(x), -1) / a log-softmax head with NLLLoss": {
        REG: """
torch.manual_seed(42)

class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(1, 32), nn.Linear(32, 1)

    def forward(self, x):
        x = x.view(len(x), -1) / 3.0
        return self.fc2(torch.tanh(self.fc1(x)))

just_right_regressor = Scaled()
train_and_test_regression_model(just_right_regressor, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2), nn.LogSoftmax(dim=1))
optimizer = optim.Adam(just_right_classifier.parameters(), lr=0.01)
for epoch in range(1500):
    optimizer.zero_grad()
    loss = F.nll_loss(just_right_classifier(x_clf), y_clf.long())
    loss.backward()
    optimizer.step()
""",
    },
    "shuffled mini-batches from a DataLoader (a PyTorch tutorial) / Keras-style Glorot init, sigmoid and BCELoss": {
        REG: """
torch.manual_seed(42)
from torch.utils.data import DataLoader, TensorDataset

just_right_regressor = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
loader = DataLoader(TensorDataset(x_reg, y_reg), batch_size=20, shuffle=True)
optimizer = optim.Adam(just_right_regressor.parameters(), lr=0.01)
for epoch in range(300):
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = F.mse_loss(just_right_regressor(xb).squeeze(1), yb)
        loss.backward()
        optimizer.step()
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
for layer in just_right_classifier:
    if isinstance(layer, nn.Linear):  # what Keras's Dense does by default
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
optimizer = optim.Adam(just_right_classifier.parameters(), lr=0.01)
for epoch in range(1500):
    optimizer.zero_grad()
    loss = nn.BCELoss()(just_right_classifier(x_clf).squeeze(1), y_clf.float())
    loss.backward()
    optimizer.step()
""",
    },
    "a learnt output scale and shift / GELU with weight decay": {
        REG: """
torch.manual_seed(42)

class ScaledOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, 32), nn.SiLU(), nn.Linear(32, 1))
        self.scale = nn.Parameter(torch.tensor(2.0))
        self.shift = nn.Parameter(torch.tensor(0.0))

    def forward(self, x):
        return self.scale * self.body(x) + self.shift

just_right_regressor = ScaledOutput()
train_and_test_regression_model(just_right_regressor, num_epochs=1500, reporting_interval=0, lr=0.01, optimizer="adam")
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.GELU(), nn.Linear(16, 1), nn.Sigmoid())
optimizer = optim.Adam(just_right_classifier.parameters(), lr=0.01, weight_decay=1e-4)
for epoch in range(1500):
    optimizer.zero_grad()
    loss = F.binary_cross_entropy(just_right_classifier(x_clf).squeeze(1), y_clf.float())
    loss.backward()
    optimizer.step()
""",
    },
    "dropout with shuffled mini-batches across cells / two softmax probabilities": {
        REG: """
torch.manual_seed(42)
just_right_regressor = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 1))
optimizer = optim.Adam(just_right_regressor.parameters(), lr=0.005)
for epoch in range(400):
    order = torch.randperm(len(x_reg))
    for start in range(0, len(x_reg), 25):
        batch = order[start:start + 25]
        optimizer.zero_grad()
        F.mse_loss(just_right_regressor(x_reg[batch]).squeeze(1), y_reg[batch]).backward()
        optimizer.step()
just_right_regressor.eval()
""",
        CLF: """
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2), nn.Softmax(dim=1))
optimizer = optim.Adam(just_right_classifier.parameters(), lr=0.01)
for epoch in range(1500):
    optimizer.zero_grad()
    p = just_right_classifier(x_clf)
    loss = F.nll_loss(torch.log(p.clamp(min=1e-7)), y_clf.long())
    loss.backward()
    optimizer.step()
""",
    },
}

ADVICE = {
    ("over-capacity regressor / logistic regression (both off, with advice)", REG): "overfitting",
    ("over-capacity regressor / logistic regression (both off, with advice)", CLF): "model bias",
}
"""Where the advice must point: an over-capacity net must shrink; a linear model must never be told to."""


def _setup_cells(nb: nbformat.NotebookNode) -> list[str]:
    """The code a student's kernel has run before the exercises: every graded cell but otter's and the answers."""
    return [
        c.source
        for c in nb.cells
        if c.cell_type == "code"
        and "otter_ignore" not in c.metadata.get("tags", [])
        and "otter" not in c.source
        and "grader." not in c.source
        and not any(answer_cell_of(c, name) for name in GRADED_NAMES.values())
    ]


def build_directly(student_nb: nbformat.NotebookNode, answers: dict[str, str]) -> dict[str, object]:
    """Run the notebook's own setup cells and the answers here, in this process: the student's own networks."""
    namespace: dict = {}
    for source in _setup_cells(student_nb):
        exec(compile(source, "<setup>", "exec"), namespace)
    for question in (REG, CLF):
        exec(compile(answers[question], f"<{question}>", "exec"), namespace)
    return {q: namespace[GRADED_NAMES[q]] for q in (REG, CLF)}


@pytest.fixture(scope="module")
def heldout_seed(kit) -> dict[str, int]:
    with zipfile.ZipFile(kit.autograder_zip) as zf:
        config = json.loads(zf.read("otter_config.json"))
    (settings,) = [p[HELDOUT_PLUGIN] for p in config["plugins"] if isinstance(p, dict) and HELDOUT_PLUGIN in p]
    return {q: int(seed) for q, seed in settings["heldout_seeds"].items()}


@pytest.fixture(scope="module")
def fairness(kit, grade, tmp_path_factory):
    """Every style graded by the zip (two at a time) and built directly here."""
    student = nbformat.read(kit.student_dir / "fcnn.ipynb", as_version=4)
    paths = {}
    for i, (style, answers) in enumerate(STYLES.items()):
        nb = nbformat.read(kit.student_dir / "fcnn.ipynb", as_version=4)
        for question, source in answers.items():
            (cell,) = [c for c in nb.cells if answer_cell_of(c, GRADED_NAMES[question])]
            cell.source = source.strip()
        paths[style] = tmp_path_factory.mktemp(f"fair{i}") / "fcnn.ipynb"
        nbformat.write(nb, paths[style])
    graded = dict(zip(STYLES, grade.many(list(paths.values()))))
    built = {style: build_directly(student, answers) for style, answers in STYLES.items()}
    return graded, built


EXERCISES = {REG: REGRESSION, CLF: CLASSIFICATION}
ASSESS = {q: (lambda model, seed, exercise=exercise: verdict.assess(exercise, model, seed)) for q, exercise in EXERCISES.items()}
CHECK = {REG: grading.check_regressor, CLF: grading.check_classifier}
X = {REG: lambda: grading.lesson_data().x_reg, CLF: lambda: grading.lesson_data().x_clf}


def _check_passes(question: str, model: object) -> bool:
    try:
        CHECK[question](model)
    except AssertionError:
        return False
    return True


def _sides(question: str, metrics: dict) -> tuple:
    """Which side of each of the question's marks ``metrics`` fall on."""
    return tuple(mark.holds(metrics) for mark in EXERCISES[question].marks)


CASES = [(style, q) for style in STYLES for q in (REG, CLF)]
TABLE_ENV = "KIT_FAIRNESS_TABLE"


@pytest.mark.parametrize("style, question", CASES, ids=[f"{s} [{q}]" for s, q in CASES])
def test_honest_style_gets_the_grade_its_network_earns(style, question, fairness, heldout_seed):
    graded, built = fairness
    model, result = built[style][question], graded[style]
    direct = ASSESS[question](model, heldout_seed[question])
    assert _check_passes(question, model), f"the public check refuses an honest {style} network"
    expected = 1 + POINTS[direct.band]
    given = result.score(question)
    print(f"\n{style} [{question}] | expected {direct.band} ({expected}) | given {given} | "
          f"check in notebook: {result.notebook_check_passed(question)}")
    if os.environ.get(TABLE_ENV):  # the README's table: `KIT_FAIRNESS_TABLE=path pytest tests/fcnn/test_fairness.py`
        style_of = style.split(" / ")[0 if question == REG else -1]
        with open(os.environ[TABLE_ENV], "a") as table:
            table.write(f"| {style_of} | {question} | {direct.band} | {given:g} of 5 | "
                        f"{'passes' if result.notebook_check_passed(question) else 'fails'} |\n")
    assert given == expected, result.output(question)
    # what the notebook's own check said is what the autograder's public test says
    assert result.notebook_check_passed(question) is True and result.public_test_passed(question) is True
    if (style, question) in ADVICE:
        assert direct.band != "just right" and ADVICE[(style, question)] in result.output(question)


VALIDATE = {REG: grading.validate_regressor, CLF: grading.validate_classifier}
"""What the notebook's validation cells call."""


def _validation_cell_says(question: str, model: object) -> str:
    """What the notebook's validation cell prints for ``model`` (the cell is skipped at grading: run here)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        VALIDATE[question](model)
    return printed.getvalue()


@pytest.mark.parametrize("style, question", CASES, ids=[f"{s} [{q}]" for s, q in CASES])
def test_validation_cell_says_the_autograders_band_when_both_measurements_agree(style, question, fairness, heldout_seed):
    """Where the validation and held-out measurements fall on the same side of every mark, the band the validation
    cell states is the band the autograder gave (its ``extra_data``) and scored."""
    graded, built = fairness
    network = verdict.as_graded(built[style][question], X[question](), GRADED_NAMES[question])
    validation = ASSESS[question](network, grading.VALIDATION_SEEDS["regression" if question == REG else "classification"])
    hidden = ASSESS[question](network, heldout_seed[question])
    if _sides(question, validation.metrics) != _sides(question, hidden.metrics):
        return  # the two samples straddle a mark: the cell says so (near_marks), and may rightly differ
    given = graded[style].results["extra_data"]["questions"][question]["band"]
    said = _validation_cell_says(question, built[style][question])
    assert f"Band: {given}." in said, f"the autograder gave {given!r}; the validation cell said:\n{said}"
    assert graded[style].score(question) == 1 + POINTS[given]
