"""The grading checks on odd but honest models and on broken ones, without a notebook around them."""

from __future__ import annotations

import math

import nbformat
import pytest
import torch
from torch import nn

from fcnn_lesson.data import lesson_data
from fcnn_lesson.exercises import CLASSIFICATION, REGRESSION
from fcnn_lesson.grading import (
    VALIDATION_SEEDS,
    check_classifier,
    check_regressor,
    predict,
    validate_classifier,
    validate_regressor,
)
from fcnn_lesson.training import train_classification_model, train_regression_model
from graded_networks import verdict
from graded_networks.seeding import SEED
from grading_engine.otter_plugins import SeedTorch

DATA = lesson_data()


def assess_regressor(model, heldout_seed):
    """The hidden test's verdict, as the grader reaches it: the lesson's metrics judged by the engine."""
    return verdict.assess(REGRESSION, model, heldout_seed)


def assess_classifier(model, heldout_seed):
    return verdict.assess(CLASSIFICATION, model, heldout_seed)


@pytest.fixture(scope="module")
def good_regressor():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    train_regression_model(model, DATA.x_reg, DATA.y_reg, num_epochs=2000, optimizer="adam", reporting_interval=0)
    return model


def test_good_regressor_passes_and_reports_its_metrics(good_regressor):
    check_regressor(good_regressor)
    result = assess_regressor(good_regressor, heldout_seed=1)
    assert result.passed, result.message
    assert result.metrics["heldout_mse_in_range"] < 5.5
    assert "On 50,000 new points" in result.message and "MSE over all points" in result.message


def test_output_shape_n_and_n_by_1_score_the_same(good_regressor):
    flat = nn.Sequential(good_regressor, nn.Flatten(0))
    assert predict(flat, DATA.x_reg, "m").shape == (100,)
    assert assess_regressor(flat, 1).metrics == assess_regressor(good_regressor, 1).metrics


def test_float64_model_is_graded(good_regressor):
    import copy

    double = copy.deepcopy(good_regressor).double()
    assert assess_regressor(double, 1).passed


@pytest.mark.parametrize(
    "model, message",
    [
        (None, "is not defined"),
        (..., "still the placeholder"),
        (lambda x: x, "not a torch.nn.Module"),
        (nn.Linear(2, 1), "failed on an input of shape (100, 1)"),
        (nn.Linear(1, 3), "one prediction per sample"),
    ],
)
def test_broken_regressors_get_a_message_saying_what_to_fix(model, message):
    result = assess_regressor(model, 1)
    assert not result.passed and message in result.message
    with pytest.raises(AssertionError, match="just_right_regressor"):
        check_regressor(model)


def test_nan_model_gets_a_clear_message_not_a_crash():
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    result = assess_regressor(model, 1)
    assert not result.passed and "NaN" in result.message and "learning rate" in result.message


def test_untrained_models_fail_the_public_check():
    torch.manual_seed(3)
    with pytest.raises(AssertionError, match="not been trained"):
        check_regressor(nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)))
    with pytest.raises(AssertionError, match="not been trained"):
        check_classifier(nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1), nn.Sigmoid()))


def test_a_classifier_that_outputs_neither_probabilities_nor_logits_is_told_so():
    result = assess_classifier(nn.Sequential(nn.Linear(2, 1), nn.ReLU()), 1)
    assert not result.passed and "neither probabilities, log-probabilities nor logits" in result.message
    assert "nn.Sigmoid()" in result.message and "nn.Linear" in result.message


@pytest.mark.parametrize("head", ["one logit (BCEWithLogitsLoss)", "two logits (CrossEntropyLoss)", "two log-probabilities"])
def test_binary_heads_are_graded_as_the_probability_of_class_1(head):
    """A sigmoid network, the same network without its sigmoid (a logit) and its two-class form (z1 - z0 = z) all
    output the same probabilities, so they earn the same metrics; the training helper trains each by the same rule."""
    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    train_classification_model(nn.Sequential(body, nn.Sigmoid()), DATA.x_clf, DATA.y_clf, num_epochs=300, optimizer="adam",
                               reporting_interval=0)  # fmt: skip
    two = nn.Linear(1, 2)
    with torch.no_grad():
        two.weight.copy_(torch.tensor([[0.0], [1.0]]))
        two.bias.zero_()
    model = {
        "one logit (BCEWithLogitsLoss)": body,
        "two logits (CrossEntropyLoss)": nn.Sequential(body, two),
        "two log-probabilities": nn.Sequential(body, two, nn.LogSoftmax(dim=1)),
    }[head]
    reference = assess_classifier(nn.Sequential(body, nn.Sigmoid()), 1).metrics
    assert assess_classifier(model, 1).metrics == pytest.approx(reference, rel=1e-6)  # the sigmoid: float32 in the model
    check_classifier(model)
    losses = train_classification_model(model, DATA.x_clf, DATA.y_clf, num_epochs=5, reporting_interval=0)
    assert len(losses) == 5 and all(math.isfinite(v) for v in losses)


def test_training_budget_is_enforced_with_a_message(good_regressor):
    import copy

    over = copy.deepcopy(good_regressor)
    over.trained_epochs = 60_000
    result = assess_regressor(over, 1)
    assert not result.passed and "at most 50,000" in result.message


def test_adam_classifier_training_stays_finite():
    # the lesson's hand-written cross-entropy turns NaN with Adam; the helper's must not
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())
    losses = train_classification_model(model, DATA.x_clf, DATA.y_clf, 3000, lr=0.05, optimizer="adam", reporting_interval=0)
    assert all(torch.isfinite(torch.tensor(losses)))


def test_seed_torch_plugin_seeds_every_code_cell_but_cell_magics():
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("text"), nbformat.v4.new_code_cell("%%time\nx")]
    )
    seeded = SeedTorch("sub.ipynb", {}, {}).before_execution(nb)
    assert seeded.cells[0].source.splitlines()[0].endswith(f"manual_seed({SEED})")
    assert seeded.cells[1].source == "text" and seeded.cells[2].source.startswith("%%time")


def test_lean_kernel_starts_with_one_thread_no_figures_no_iri_grammar_no_pandas_and_no_compiler(monkeypatch, tmp_path):
    from nbclient import NotebookClient

    from grading_engine.otter_plugins.lean_kernel import lean_startup
    from grading_engine.sandbox import KERNEL_ENV, Sandbox

    box = Sandbox(tmp_path / "grading")  # what a grading's kernel gets: the box's environment and the lean start-up
    box.add_startup("00-lean-kernel.py", lean_startup())
    for var, value in {**KERNEL_ENV, "IPYTHONDIR": str(box.ipython_dir)}.items():
        monkeypatch.setenv(var, value)  # restored after the test
    probe = (
        "import sys, otter, torch, matplotlib\n"
        "grader = otter.Notebook()\n"
        "model = torch.nn.Linear(1, 1)\n"  # training registers torch operators, which walks sys.modules
        "optimizer = torch.optim.Adam(model.parameters())\n"
        "optimizer.zero_grad(); model(torch.ones(1)).sum().backward(); optimizer.step()\n"
        "from graded_networks.networks import describe\n"  # what the export cell does: traced with torch.fx
        "describe(torch.nn.Sequential(model, torch.nn.Tanh()), torch.ones(2, 1), 'model')\n"
        "print(torch.get_num_threads(), matplotlib.get_backend(), sys.modules.get('rfc3987_syntax'),\n"
        "      type(sys.modules['pandas']).__name__, type(sys.modules['nbconvert']).__name__, '_lean_kernel' in dir(),\n"
        "      type(sys.modules['torch._dynamo']).__name__, 'torch._dynamo.convert_frame' in sys.modules)"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(probe)])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert nb.cells[0].outputs[0]["text"].split() == [
        "1", "agg", "None", "_DeferredModule", "_DeferredModule", "False", "_DeferredCompiler", "False"
    ]


def test_bands_follow_the_marks_and_the_message_names_the_band():
    """An early-stopped good design lands in "close"; a straight line in "off", with advice; both say so."""
    torch.manual_seed(3)
    early = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 1))  # assignments/fcnn/fixtures/close_regressor.py
    train_regression_model(early, DATA.x_reg, DATA.y_reg, num_epochs=300, lr=0.01, optimizer="adam", reporting_interval=0)
    close = assess_regressor(early, 1)
    # the calibrated marks, stated here rather than imported: grading with a moved mark must fail this test
    assert 5.5 < close.metrics["heldout_mse_in_range"] <= 6.0
    assert close.band == "close" and not close.passed and "Band: close." in close.message

    torch.manual_seed(0)
    line = nn.Linear(1, 1)
    train_regression_model(line, DATA.x_reg, DATA.y_reg, num_epochs=1000, reporting_interval=0)
    off = assess_regressor(line, 1)
    assert off.band == "off" and "Band: off." in off.message and "model bias" in off.message


def test_validation_cell_prints_the_hidden_tests_verdict_on_public_data(good_regressor, capsys):
    validate_regressor(good_regressor)
    validate_classifier(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()))
    printed = capsys.readouterr().out
    assert "this model would pass" in printed and "Band: just right." in printed
    assert "this model would not pass" in printed and "Band: off." in printed
    assert set(VALIDATION_SEEDS.values()).isdisjoint({1_000_001, 1_000_002})  # not the calibration's seeds either


def test_a_classifier_returning_shape_n_is_graded_like_one_returning_n_by_1():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
    train_classification_model(model, DATA.x_clf, DATA.y_clf, 800, optimizer="adam", reporting_interval=0)
    flat = nn.Sequential(model, nn.Flatten(0))
    assert predict(flat, DATA.x_clf, "m").shape == (200,)
    check_classifier(flat)
    assert assess_classifier(flat, 1).metrics == assess_classifier(model, 1).metrics


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here (the pinned torch is a CPU build): `make test-gpu` on a machine with one")
def test_a_model_left_on_a_gpu_is_graded_like_its_cpu_copy(good_regressor):
    import copy

    from graded_networks.verdict import as_graded

    on_gpu = copy.deepcopy(good_regressor).cuda()
    network = as_graded(on_gpu, DATA.x_reg, "just_right_regressor")  # described from the GPU, rebuilt on the CPU
    assert assess_regressor(network, 1).metrics == pytest.approx(assess_regressor(good_regressor, 1).metrics, rel=1e-5)
    assert next(on_gpu.parameters()).is_cuda  # the student's model is never moved


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here (the pinned torch is a CPU build): `make test-gpu` on a machine with one")
def test_a_network_trained_on_a_gpu_is_checked_and_graded_from_its_description():
    """Trained on CUDA with the lesson's helper, checked where it lives and graded as the grader rebuilds it (CPU)."""
    from graded_networks.verdict import as_graded

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1)).cuda()
    train_regression_model(model, DATA.x_reg.cuda(), DATA.y_reg.cuda(), num_epochs=2000, optimizer="adam", reporting_interval=0)
    check_regressor(model)
    graded = assess_regressor(as_graded(model, DATA.x_reg, "just_right_regressor"), 1)
    on_cpu = assess_regressor(model.cpu(), 1)
    assert graded.band == on_cpu.band and graded.metrics == pytest.approx(on_cpu.metrics, rel=1e-5)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_a_network_trained_on_standardised_inputs_is_told_to_put_the_scaling_inside(task):
    """The StandardScaler habit: trained on (x - mean) / std, the network itself unscaled. The grader feeds it x as
    the lesson gives it, so the check names the real cause (not "untrained"); with the scaling inside, it passes."""
    torch.manual_seed(0)
    x, y = (DATA.x_reg, DATA.y_reg) if task == "regression" else (DATA.x_clf, DATA.y_clf)
    mean, std = x.mean(0), x.std(0)
    if task == "regression":
        model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
        train_regression_model(model, (x - mean) / std, y, num_epochs=1500, optimizer="adam", reporting_interval=0)
        check = check_regressor
    else:
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
        train_classification_model(model, (x - mean) / std, y, num_epochs=1500, optimizer="adam", reporting_interval=0)
        check = check_classifier
    with pytest.raises(AssertionError, match="standardised") as refused:
        check(model)
    assert "inside the network" in str(refused.value) and "not been trained" not in str(refused.value)
    check(nn.Sequential(Standardise(mean, std), model))


class Standardise(nn.Module):
    """The scaling inside the network, with its statistics as buffers."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean) / self.std
