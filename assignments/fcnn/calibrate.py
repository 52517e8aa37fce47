"""Calibrate the pass marks on a zoo of student designs: ``make calibrate``.

    python assignments/fcnn/calibrate.py [--jobs 2] [--out docs/fcnn]      (what `make calibrate A=fcnn` runs)

Trains the designs a student might hand in (1-3 hidden layers of 4-128 units, tanh / ReLU / sigmoid, SGD and
Adam at a few learning rates, a range of epochs, 10 initialisation seeds each) and the lesson's own linear,
underfit and overfit models, all on the lesson's training data. Each trained model is measured by the
grader's own hidden-test code (``fcnn_lesson.grading.assess_regressor`` / ``assess_classifier``) on held-out
data from calibration seeds (public; not the autograder's). Writes ``docs/fcnn/calibration.md`` with its figures
and ``docs/fcnn/calibration/zoo.csv`` with every measurement.

Speed: the members of a design (its seeds) train together as one batched network (``torch.baddbmm``
over stacked weights). Adam and SGD act on each weight separately, so one optimiser over the stacked
weights is exactly one optimiser per member. Full-batch training is deterministic, so the model at
epoch 1,000 of a 10,000-epoch run *is* the 1,000-epoch training: each run is measured at several
epoch counts.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import pathlib
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC

import torch
import torch.nn.functional as F
from torch import nn

from fcnn_lesson.data import lesson_data
from fcnn_lesson.exercises import CLASSIFICATION, REGRESSION
from graded_networks.marks import BANDS, band, marks_table
from graded_networks.verdict import assess, regime
from instructor.assign import REPO

CALIBRATION_SEEDS = {"regression": 1_000_001, "classification": 1_000_002}
"""Held-out seeds for the calibration: public, unlike the autograder's; same generating process."""
EVALUATION_SEEDS = {"regression": 1_000_003, "classification": 1_000_004}
"""A second, separate set of 50,000 points per task: the zoo's groups are defined on it, so that no group
depends on the marks or on the very points the marks are measured on."""
GOOD_EXCESS = 0.25
"""A design is *good* when its median error on the evaluation set exceeds the best possible (the noise's
MSE, or the true probabilities' cross-entropy) by at most this fraction of it. The marks are not used."""
ERROR_KEYS = {
    "regression": ("heldout_mse_in_range", "train_mse"),
    "classification": ("heldout_cross_entropy", "train_cross_entropy"),
}
INIT_SEEDS = tuple(range(10))
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}
IN_FEATURES = {"regression": 1, "classification": 2}


@dataclass(frozen=True)
class Design:
    """A network and how it is trained; ``family`` says where it comes from."""

    task: str
    hidden: tuple[int, ...]
    activation: str
    optimizer: str
    lr: float
    family: str = "zoo"

    @property
    def name(self) -> str:
        shape = "x".join(map(str, self.hidden)) or "linear"
        return f"{shape} {self.activation if self.hidden else ''} {self.optimizer} lr={self.lr:g}".replace("  ", " ")

    def network(self) -> nn.Sequential:
        """The network as a student would write it (same layer order, so the same initial weights per seed)."""
        sizes = [IN_FEATURES[self.task], *self.hidden, 1]
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[self.activation]())
        if self.task == "classification":
            layers.append(nn.Sigmoid())
        return nn.Sequential(*layers)


@dataclass(frozen=True)
class Job:
    """One batched training: ``design`` with each activation and seed, measured after each of ``epochs``.

    Members differ only in activation and initial weights; one batch holds them all, since the Python
    overhead of a training step, not its arithmetic, is what costs most for these small networks.
    """

    design: Design
    epochs: tuple[int, ...]
    activations: tuple[str, ...] = tuple(ACTIVATIONS)
    seeds: tuple[int, ...] = INIT_SEEDS

    def members(self) -> list[tuple[Design, int]]:
        return [(replace(self.design, activation=a), seed) for a in self.activations for seed in self.seeds]

    @property
    def cost(self) -> float:
        """Rough seconds of one core, to hand out the longest jobs first."""
        sizes = [IN_FEATURES[self.design.task], *self.design.hidden, 1]
        points = 100 if self.design.task == "regression" else 200
        flops = 6 * points * len(self.members()) * sum(a * b for a, b in zip(sizes, sizes[1:]))
        return max(self.epochs) * (6e-4 + flops / 15e9)


def zoo() -> list[Job]:
    """The designs the calibration trains, with the epoch counts each is measured at."""
    shapes = [(w,) for w in (4, 8, 16, 32, 64, 128)] + [(8, 8), (32, 32), (8, 8, 8), (32, 32, 32)]
    recipes = [("sgd", 0.01, (1_000, 5_000)), ("sgd", 0.1, (3_000,)), ("adam", 0.01, (300, 3_000))]
    jobs = [
        Job(Design(task, shape, "", optimizer, lr), epochs)
        for task in ("regression", "classification")
        for shape in shapes
        for optimizer, lr, epochs in recipes
        if not (shape == (128,) and (optimizer, lr) == ("sgd", 0.01))  # the slowest; 64 wide covers it
    ]
    tanh, five = ("tanh",), INIT_SEEDS[:5]
    lesson = [  # the lesson's own models, trained as the lesson trains them (SGD, lr 0.01, tanh)
        Job(Design("regression", (), "tanh", "sgd", 0.01, "lesson: linear"), (1_000,), tanh),
        Job(Design("regression", (1,), "tanh", "sgd", 0.01, "lesson: underfit 1-1-1"), (1_000,), tanh),
        Job(Design("classification", (), "tanh", "sgd", 0.01, "lesson: linear"), (1_000,), tanh),
        Job(Design("classification", (2,), "tanh", "sgd", 0.01, "lesson: underfit 2-2-1"), (10_000,), tanh),
        # the two long ones (50,000 and 30,000 epochs of a 6-layer net): five seeds each, to fit the time budget
        Job(Design("regression", (30,) * 6, "tanh", "sgd", 0.01, "lesson: overfit 6x30"), (50_000,), tanh, five),
        Job(Design("classification", (50,) * 6, "tanh", "sgd", 0.01, "lesson: overfit 6x50"), (30_000,), tanh, five),
    ]
    return lesson + jobs


def train(job: Job) -> list[dict]:
    """Train ``job``'s members together and measure each at each epoch count with the grader's code."""
    torch.set_num_threads(1)
    data = lesson_data()
    task = job.design.task
    x, y = (data.x_reg, data.y_reg) if task == "regression" else (data.x_clf, data.y_clf.float())
    members, networks = job.members(), []
    for design, seed in members:
        torch.manual_seed(seed)
        networks.append(design.network())
    weights, biases = _stack(networks)
    optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[job.design.optimizer](weights + biases, lr=job.design.lr)
    # members come grouped by activation (see Job.members): one slice of the batch per activation
    per = len(job.seeds)
    blocks = [(ACTIVATIONS[a](), slice(i * per, (i + 1) * per)) for i, a in enumerate(job.activations)]
    inputs = x.expand(len(members), *x.shape)
    rows, started = [], time.monotonic()
    for epoch in range(1, max(job.epochs) + 1):
        optimizer.zero_grad()
        out = _forward(inputs, weights, biases, blocks, task)
        if task == "regression":
            loss = ((out - y) ** 2).mean(dim=1).sum()  # each member's own MSE; summing keeps gradients apart
        else:
            loss = F.binary_cross_entropy(out, y.expand_as(out), reduction="none").mean(dim=1).sum()
        loss.backward()
        optimizer.step()
        if epoch in job.epochs:
            for (design, seed), network in zip(members, _unstack(networks, weights, biases)):
                rows.append(_measure(design, network, seed, epoch))
    for row in rows:
        row["train_seconds"] = round((time.monotonic() - started) / len(rows), 4)
    return rows


def _stack(members: list[nn.Sequential]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    linears = [[m for m in net if isinstance(m, nn.Linear)] for net in members]
    weights = [torch.stack([ls[i].weight.detach().T for ls in linears]).requires_grad_() for i in range(len(linears[0]))]
    biases = [torch.stack([ls[i].bias.detach()[None, :] for ls in linears]).requires_grad_() for i in range(len(linears[0]))]
    return weights, biases


def _forward(inputs, weights, biases, blocks: list[tuple[nn.Module, slice]], task: str) -> torch.Tensor:
    """All members' outputs, ``(members, points)``; ``blocks``: each activation and the members that use it."""
    h = inputs
    for i, (w, b) in enumerate(zip(weights, biases)):
        h = torch.baddbmm(b, h, w)
        if i < len(weights) - 1:
            h = torch.cat([activation(h[members]) for activation, members in blocks])
    out = h.squeeze(-1)
    return torch.sigmoid(out) if task == "classification" else out


def _unstack(members: list[nn.Sequential], weights, biases) -> list[nn.Sequential]:
    """Copy each member's current weights into its own ``nn.Sequential``, as a student's trained model."""
    for k, net in enumerate(members):
        with torch.no_grad():
            for layer, w, b in zip([m for m in net if isinstance(m, nn.Linear)], weights, biases):
                layer.weight.copy_(w[k].T)
                layer.bias.copy_(b[k, 0])
    return members


def _measure(design: Design, network: nn.Module, seed: int, epochs: int) -> dict:
    exercise = REGRESSION if design.task == "regression" else CLASSIFICATION
    assessment = assess(exercise, network, CALIBRATION_SEEDS[design.task])
    evaluation = assess(exercise, network, EVALUATION_SEEDS[design.task]).metrics
    heldout_key, train_key = ERROR_KEYS[design.task]
    return {
        "task": design.task,
        "family": design.family,
        "design": design.name,
        "hidden": "x".join(map(str, design.hidden)) or "0",
        "activation": design.activation if design.hidden else "",
        "optimizer": design.optimizer,
        "lr": design.lr,
        "epochs": epochs,
        "seed": seed,
        "band": assessment.band,
        "advice": assessment.regime or "",
        **{k: round(v, 5) for k, v in assessment.metrics.items()},
        "eval_error": round(evaluation[heldout_key], 5) if heldout_key in evaluation else "",
        "eval_train_error": round(evaluation[train_key], 5) if train_key in evaluation else "",
        "eval_floor": round(evaluation.get("noise_mse" if design.task == "regression" else "bayes_cross_entropy", math.nan), 5),
    }


def rebanded(rows: list[dict]) -> list[dict]:
    """The rows of a stored zoo with each band judged again by the marks as they are now (a moved mark moves the page)."""
    for row in rows:
        exercise = REGRESSION if row["task"] == "regression" else CLASSIFICATION
        metrics = {m.metric: float(row[m.metric]) for m in exercise.marks if row.get(m.metric) not in ("", None)}
        if len(metrics) == len({m.metric for m in exercise.marks}):  # a network that could not be measured stays off
            row["band"] = band(metrics, exercise.marks)
    return rows


def run_zoo(jobs: list[Job], processes: int) -> list[dict]:
    """Train every job, ``processes`` at a time, with a progress bar; longest first."""
    from tqdm import tqdm

    rows: list[dict] = []
    jobs = sorted(jobs, key=lambda j: -j.cost)
    progress = tqdm(
        total=sum(j.cost for j in jobs), unit="", unit_scale=True, desc="training the zoo", bar_format="{l_bar}{bar}| {elapsed}<{remaining}"
    )
    with ProcessPoolExecutor(max_workers=processes) as pool, progress as bar:
        futures = {pool.submit(train, job): job for job in jobs}
        for future in as_completed(futures):
            rows.extend(future.result())
            bar.update(futures[future].cost)
    return rows


# --- the report ------------------------------------------------------------------------------

GROUPS = ["lesson: linear", "lesson: underfit", "lesson: overfit", "zoo: good", "zoo: underfit", "zoo: overfit", "zoo: diverged"]


def _medians(design_rows: list[dict]) -> tuple[float, float, float] | None:
    """The design's median evaluation-set error, training error and best possible error (None: diverged)."""
    measured = [r for r in design_rows if r.get("eval_error") not in (None, "")]
    if 2 * len(measured) <= len(design_rows):
        return None  # most trainings predict NaN: no metric at all
    median = lambda key: statistics.median(float(r[key]) for r in measured)  # noqa: E731
    return median("eval_error"), median("eval_train_error"), median("eval_floor")


def design_regime(design_rows: list[dict]) -> str | None:
    """The design's regime: the advice's own rule (``graded_networks.verdict.regime``) on its medians on the evaluation set."""
    medians = _medians(design_rows)
    return None if medians is None else regime(medians[1], medians[0], medians[2])


def group_of(design_rows: list[dict]) -> str:
    """The group of one design (architecture, recipe, epochs) from its seeds' medians on the evaluation set.

    Lesson models keep their lesson group. A zoo design is *good* when its median evaluation error is within
    :data:`GOOD_EXCESS` of the best possible, otherwise *underfit* or *overfit* by :func:`design_regime`.
    Neither the marks nor the calibration's held-out points decide a group.
    """
    first = design_rows[0]
    if first["family"].startswith("lesson"):
        return " ".join(first["family"].split()[:2])
    medians = _medians(design_rows)
    if medians is None:
        return "zoo: diverged"
    heldout, _, floor = medians
    if heldout - floor <= GOOD_EXCESS * floor:
        return "zoo: good"
    return f"zoo: {design_regime(design_rows)}"


def _designs(rows: list[dict]) -> dict[tuple, list[dict]]:
    designs: dict[tuple, list[dict]] = {}
    for row in rows:
        designs.setdefault((row["task"], row["family"], row["design"], row["activation"], row["epochs"]), []).append(row)
    return designs


def advice_agreement(rows: list[dict]) -> tuple[int, int, int]:
    """Of the trainings that miss "just right": how many, how many get the advice of their design's regime,
    and how many linear models are told to shrink (``advice == "overfit"``)."""
    missed = agree = linear_shrink = 0
    for design_rows in _designs(rows).values():
        regime = design_regime(design_rows)
        for row in design_rows:
            if row["band"] == "just right" or not row.get("advice") or regime is None:
                continue
            missed += 1
            agree += row["advice"] == regime
            linear_shrink += str(row["hidden"]) == "0" and row["advice"] == "overfit"
    return missed, agree, linear_shrink


def grouped(rows: list[dict]) -> dict[str, dict[str, list[dict]]]:
    """``{task: {group: rows}}``, each design's rows (its seeds) assigned to the design's group."""
    out: dict[str, dict[str, list[dict]]] = {}
    for (task, *_), design_rows in _designs(rows).items():
        out.setdefault(task, {}).setdefault(group_of(design_rows), []).extend(design_rows)
    return out


def write_report(rows: list[dict], out: pathlib.Path, seconds: float, processes: int) -> pathlib.Path:
    """Write ``out/calibration.md`` and its figures under ``out/calibration/``."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    figures = out / "calibration"
    groups = grouped(rows)
    colours = {"just right": "tab:green", "close": "tab:orange", "off": "tab:red"}

    fig, ax = plt.subplots(figsize=(10, 4.5))
    names = [g for g in GROUPS if g in groups["regression"]]
    for i, name in enumerate(names):
        for j, row in enumerate(groups["regression"][name]):
            value = float(row["heldout_mse_in_range"]) if row.get("heldout_mse_in_range") not in ("", None) else 12.0
            ax.scatter(i + 0.6 * ((j * 0.618) % 1 - 0.5), min(value, 12.0), s=6, color=colours[row["band"]], alpha=0.6)
    for y, label in ((4.0, "noise floor"), *((m.value, m.band) for m in REGRESSION.marks)):
        ax.axhline(y, color="black", lw=0.8, ls=":" if label == "noise floor" else "--")
        ax.text(len(names) - 0.45, y, f" {label} ({y})", va="center", fontsize=8)
    ax.set_xticks(range(len(names)), [n.replace(": ", ":\n") for n in names], fontsize=8)
    ax.set_ylabel("held-out MSE inside the training x-range (capped at 12)")
    ax.set_title("Regression: every trained model, coloured by band (green just right, orange close, red off)")
    fig.tight_layout()
    fig.savefig(figures / "regression.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 5.5))
    markers = dict(zip(GROUPS, "sDo^vPX"))
    for name, group_rows in groups["classification"].items():
        measured = [r for r in group_rows if r.get("heldout_accuracy") not in ("", None)]
        xs = [float(r["heldout_accuracy"]) for r in measured]
        ys = [min(float(r["heldout_cross_entropy"]), 2.0) for r in measured]
        ax.scatter(xs, ys, s=10 if name.startswith("zoo") else 40, marker=markers[name], alpha=0.5, label=name)
    for mark in CLASSIFICATION.marks:  # accuracy across, cross-entropy up; coloured by band
        line = ax.axvline if mark.metric == "heldout_accuracy" else ax.axhline
        line(mark.value, color="tab:green" if mark.band == BANDS[-1] else "tab:orange", ls="--", lw=0.8)
    ax.set_xlabel("held-out accuracy (best possible about 0.885)")
    ax.set_ylabel("held-out cross-entropy (capped at 2)")
    ax.set_title("Classification: just right = right of the black line and below the green one")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(figures / "classification.png", dpi=110)
    plt.close(fig)

    tables = []
    for task in ("regression", "classification"):
        lines = ["| group | trained models | just right (4 points) | close (2) | off (0) |", "|---|---:|---:|---:|---:|"]
        for name in [g for g in GROUPS if g in groups[task]]:
            bands = [r["band"] for r in groups[task][name]]
            shares = [f"{bands.count(b) / len(bands):.1%}" for b in ("just right", "close", "off")]
            lines.append(f"| {name} | {len(bands)} | " + " | ".join(shares) + " |")
        tables.append("\n".join(lines))

    from datetime import datetime

    def share(task_groups: list[tuple[str, str]], band: str) -> str:
        picked = [r for task, name in task_groups for r in groups[task].get(name, [])]
        return f"{sum(r['band'] == band for r in picked)} of {len(picked)} ({sum(r['band'] == band for r in picked) / max(1, len(picked)):.1%})"

    lesson = [(t, f"lesson: {kind}") for t in ("regression", "classification") for kind in ("linear", "underfit", "overfit")]
    overfit = [(t, "zoo: overfit") for t in ("regression", "classification")]
    missed, agree, linear_shrink = advice_agreement(rows)
    text = REPORT_TEMPLATE.format(
        lesson_off=share(lesson, "off"),
        good_regression_full=share([("regression", "zoo: good")], "just right"),
        good_classification_full=share([("classification", "zoo: good")], "just right"),
        good_off=share([(t, "zoo: good") for t in ("regression", "classification")], "off"),
        underfit_off=share([(t, "zoo: underfit") for t in ("regression", "classification")], "off"),
        overfit_off=share(overfit, "off"),
        overfit_close=share(overfit, "close"),
        overfit_full=share(overfit, "just right"),
        overfit_regression_off=share([("regression", "zoo: overfit")], "off"),
        advice=f"{agree} of {missed} ({agree / max(1, missed):.1%})",
        linear_shrink=linear_shrink,
        overfit_entropy_min=min(float(r["heldout_cross_entropy"]) for r in groups["classification"]["lesson: overfit"]),
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        n=len(rows),
        designs=len({(r["task"], r["design"], r["activation"], r["epochs"]) for r in rows}),
        seconds=seconds,
        processes=processes,
        regression_marks=marks_table(REGRESSION.marks, REGRESSION.metrics, REGRESSION.points()),
        classification_marks=marks_table(CLASSIFICATION.marks, CLASSIFICATION.metrics, CLASSIFICATION.points()),
        good_excess=f"{GOOD_EXCESS:.0%}",
        regression_table=tables[0],
        classification_table=tables[1],
    )
    path = out / "calibration.md"
    path.write_text(text)
    return path


REPORT_TEMPLATE = """# Calibration of the hidden tests' pass marks

Written by `make calibrate` ({when}): {n:,} trained models ({designs} designs, 10 initialisation seeds each;
the lesson's two long overfit trainings 5 seeds each) in {seconds:.0f} s with {processes} training processes.
Every number below comes from the grader's own hidden-test code (`fcnn_lesson.grading.assess_regressor` /
`assess_classifier`, judged by the marks in `fcnn_lesson/exercises.py`) on 50,000 held-out points from calibration
seeds (public; the autograder's seeds differ).
All measurements: [`calibration/zoo.csv`](calibration/zoo.csv).

## The marks (`fcnn_lesson/exercises.py`, the one place they live)

Regression (held-out points inside the training x-range):

{regression_marks}

Classification:

{classification_marks}

## What the zoo holds

- **Designs**: 1 hidden layer of 4, 8, 16, 32, 64 or 128 units; 2 layers of 8 or 32; 3 layers of 8 or 32; each
  with tanh, ReLU and sigmoid; trained full-batch as the notebook's helpers train (PyTorch's MSE or binary
  cross-entropy) with SGD at lr 0.01 (measured after 1,000 and 5,000 epochs; not the 128-wide net, the slowest),
  SGD at lr 0.1 (3,000 epochs) and Adam at lr 0.01 (300 and 3,000 epochs).
- **The lesson's models**, trained as the lesson trains them (SGD, lr 0.01): the straight line / logistic
  regression (1,000 epochs), the underfit 1-1-1 regressor (1,000) and 2-2-1 classifier (10,000), the overfit 6x30
  regressor (50,000) and 6x50 classifier (30,000).
- **Groups**, defined without the marks: each design (architecture, activation, recipe, epoch count) is measured
  on a second, separate evaluation set (50,000 other points), and grouped by the median of its trainings there.
  *Good*: the median error exceeds the best possible (the noise's MSE of 4.0; the true probabilities'
  cross-entropy) by at most {good_excess} of it. Otherwise *underfit* or *overfit* by the design's regime, the
  advice's own rule applied to the design's medians: held-out error = best + bias + variance and training error =
  best + bias - variance, so *overfit* (variance dominates) exactly when the training error is below the best
  possible. *Diverged*: NaN predictions (SGD at lr 0.1 on wide nets). The lesson's
  own models keep their lesson's names.

## Regression

![every trained regression model](calibration/regression.png)

{regression_table}

## Classification

![every trained classifier](calibration/classification.png)

{classification_table}

## What this shows

- **The lesson's bad models never get the hidden points**: {lesson_off} of its linear, underfit and overfit
  trainings land in "off".
- **Good designs pass**: {good_regression_full} of their regression trainings and
  {good_classification_full} of their classification trainings are "just right"; {good_off} get nothing.
- **Underfit zoo designs** get no hidden points in {underfit_off} of their trainings.
- **Overfit zoo designs** are the hard case, and the marks are lenient with them: {overfit_off} of their
  trainings get no hidden points, {overfit_close} land in "close" and {overfit_full} in "just right" (regression
  alone: {overfit_regression_off} "off"). An over-capacity net stopped at a moderate epoch count is often
  honestly good on new points, and the grade measures the model handed in, not the design it came from; the marks
  cannot move down without failing unlucky trainings of good designs.
- **The advice points the right way**: of the trainings that miss "just right", {advice} are told what their
  design's regime calls for (overfitting: shrink or stop earlier; model bias: grow or train longer), judged from
  their own training and held-out errors against the best possible; {linear_shrink} linear models are told to
  shrink.
- **Why a close band for regression.** A design's trainings spread with the initialisation: the same
  good design can land past the cut-off with an unlucky seed. The
  lesson's overfit net sits only about 0.8 above the cut-off, so the cut-off cannot move up. The close band
  (half the hidden points, see the marks above) catches many unlucky trainings, and a student
  who misses "just right" by a hair earns more than one who hands in a straight line, while the lesson's bad
  models stay at 0.
- **Why none for classification.** The single cut-off already passes nearly every good training and none of
  the lesson's bad ones, and the lesson's overfit net reaches a cross-entropy of {overfit_entropy_min:.2f} in its
  best training, too near the cut-off for a band above it.
- Students can measure the same numbers before submitting: the notebook's validation cells run this exact
  measurement on a public validation set.

Rerun: `make calibrate A=fcnn` (about 9 minutes on 2 cores) rewrites this page, its figures and the CSV;
`python assignments/fcnn/calibrate.py --report-only` rewrites the page and figures from the last run's CSV.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="training processes (default 2)")
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "docs" / "fcnn", help="where calibration.md goes")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the last run's zoo.csv")
    args = parser.parse_args(argv)
    figures = args.out / "calibration"
    figures.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        with (figures / "zoo.csv").open() as f:
            rows = rebanded(list(csv.DictReader(f)))
        run = json.loads((figures / "run.json").read_text())
    else:
        started = time.monotonic()
        jobs = zoo()
        n_models = sum(len(job.members()) * len(job.epochs) for job in jobs)
        print(f"[calibrate] {n_models:,} models in {len(jobs)} batched trainings, {args.jobs} at a time", flush=True)
        rows = run_zoo(jobs, args.jobs)
        run = {"seconds": round(time.monotonic() - started), "processes": args.jobs}
        print(f"[calibrate] {len(rows)} trained models measured in {run['seconds']} s", flush=True)
        fields = list(dict.fromkeys(key for row in rows for key in row))
        with (figures / "zoo.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(sorted(rows, key=lambda r: (r["task"], r["family"], r["design"], r["epochs"], r["seed"])))
        (figures / "run.json").write_text(json.dumps(run))
    report = write_report(rows, args.out, run["seconds"], run["processes"])
    print(f"[calibrate] wrote {report} (figures, zoo.csv and run.json in {figures})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
