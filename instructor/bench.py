"""Benchmark the kit: what building it, grading it and working through it cost.

    python -m instructor.bench [--assignment NAME] [--out docs/NAME/bench.md]      (what `make bench A=NAME` runs)

Measures, in one run and on one freshly built kit, the wall time, CPU time and peak memory of:
building the kit (what `make assign` runs), grading the solutions notebook, grading it on one core
(`taskset`, roughly Gradescope's CPU share), grading the untouched student notebook, grading the
solutions with nothing skipped (the baseline: every demo cell runs), and a student running the
notebook top to bottom. Prints one Markdown table and writes it to ``--out``. Grading runs the zip's own
``run_otter.py`` in a folder laid out like Gradescope's ``/autograder`` (``python -m grading_engine.gradescope``).

CPU time is the user + system time of the whole process tree. Peak memory is the largest sum, over
the tree's processes, of their proportional set size (shared pages counted once, as a container's
memory limit counts them), sampled every 250 ms.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import nbformat
import psutil

from instructor.assign import REPO, chosen

SAMPLE_SECONDS = 0.25  # reading a torch process's PSS costs ~6 ms: sample gently


@dataclass
class Measurement:
    """One row of the table."""

    label: str
    wall_s: float
    cpu_s: float
    peak_mb: float
    note: str = ""


def _tree_memory(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass  # ended between listing and reading
    return total


def measure(label: str, cmd: list[str], cwd: pathlib.Path | None = None, note: str = "", repeat: int = 1) -> Measurement:
    """Run ``cmd`` ``repeat`` times and report the median of each figure (runs here vary by +-20 %)."""
    runs = [_measure_once(label, cmd, cwd) for _ in range(repeat)]
    median = statistics.median
    if repeat > 1:
        note = f"{note}; median of {repeat}" if note else f"median of {repeat}"
    return Measurement(
        label, median(r.wall_s for r in runs), median(r.cpu_s for r in runs), median(r.peak_mb for r in runs), note
    )


def _measure_once(label: str, cmd: list[str], cwd: pathlib.Path | None) -> Measurement:
    """Run ``cmd`` to completion and measure its whole process tree; fail loudly if it fails."""
    print(f"[bench] {label} ...", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = psutil.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, _tree_memory(proc))
            except psutil.NoSuchProcess:
                break
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - started
        if proc.wait() != 0:
            log.seek(0)
            sys.exit(f"[bench] {label} failed (exit {proc.returncode}):\n{log.read().decode()[-4000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    row = Measurement(label, wall, cpu, peak / 2**20)
    print(f"[bench]   {wall:.1f} s wall, {cpu:.1f} s CPU, {row.peak_mb:.0f} MB peak", flush=True)
    return row


def grade_command(zip_path: pathlib.Path, submission: pathlib.Path, cpus: str | None = None) -> list[str]:
    """Grade as Gradescope does: the zip's own ``run_otter.py`` in a folder laid out like ``/autograder``."""
    cmd = [sys.executable, "-m", "grading_engine.gradescope", str(zip_path), str(submission)]
    return ["taskset", "-c", cpus, *cmd] if cpus else cmd


def without_skip_markers(notebook: pathlib.Path, dest: pathlib.Path) -> pathlib.Path:
    """A copy of ``notebook`` whose demo cells are no longer tagged to be skipped at grading."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "otter_ignore" in tags:
            tags.remove("otter_ignore")
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


YARDSTICK = "plain otter: a trivial one-cell torch notebook"

TRIVIAL_MASTER = [
    nbformat.v4.new_raw_cell("# ASSIGNMENT CONFIG\nname: trivial\nfiles: []\nexport_cell: false\ngenerate: true\n"),
    nbformat.v4.new_raw_cell("# BEGIN QUESTION\nname: q1\npoints: 1"),
    nbformat.v4.new_code_cell("import torch\ntotal = torch.ones(3).sum().item()  # SOLUTION"),
    nbformat.v4.new_raw_cell("# BEGIN TESTS"),
    nbformat.v4.new_code_cell("assert total == 3"),
    nbformat.v4.new_raw_cell("# END TESTS"),
    nbformat.v4.new_raw_cell("# END QUESTION"),
]
"""The yardstick's master: otter's own format, none of the kit's plugins."""


def trivial_zip(work: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """Plain ``otter assign`` of a one-cell torch notebook: its autograder zip and its solutions notebook."""
    master = work / "trivial" / "trivial.ipynb"
    master.parent.mkdir(parents=True)
    kernelspec = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(nbformat.v4.new_notebook(cells=TRIVIAL_MASTER, metadata=kernelspec), master)
    dist = work / "trivial" / "dist"
    subprocess.run([sys.executable, "-m", "otter", "assign", "--no-run-tests", "--no-pdfs", str(master), str(dist)],
                   check=True, capture_output=True, cwd=master.parent)  # fmt: skip
    (zip_path,) = (dist / "autograder").glob("trivial-autograder_*.zip")
    return zip_path, dist / "autograder" / "trivial.ipynb"


WIDE_NETWORK = """\
torch.manual_seed(0)
layers = [nn.Linear(1, {width}), nn.ReLU()]
for _ in range({depth} - 1):
    layers += [nn.Linear({width}, {width}), nn.ReLU()]
just_right_regressor = nn.Sequential(*layers, nn.Linear({width}, 1))
train_and_test_regression_model(just_right_regressor, num_epochs={epochs}, reporting_interval=0, lr=0.001, optimizer="adam")
"""
LARGEST_DESCRIPTION = """\
torch.manual_seed(0)  # 1,000 operations, the cap (graded_networks.networks.MAX_NODES), counting the input
just_right_regressor = nn.Sequential(nn.Linear(1, 8), *[nn.ReLU() for _ in range(997)], nn.Linear(8, 1))
train_and_test_regression_model(just_right_regressor, num_epochs=1, reporting_interval=0)
"""


def with_regressor(solutions: pathlib.Path, answer: str, dest: pathlib.Path, extra: tuple[str, ...] = ()) -> pathlib.Path | None:
    """The solutions with the regression exercise answered by ``answer`` (fcnn's graded name) and ``extra`` cells at the
    end, or None for an assignment without that exercise."""
    nb = nbformat.read(solutions, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "just_right_regressor = " in c.source and "train_" in c.source]
    if len(cells) != 1:
        return None
    cells[0].source = answer
    nb.cells += [nbformat.v4.new_code_cell(source) for source in extra]
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def run_benchmarks(work: pathlib.Path, name: str) -> list[Measurement]:
    kit = work / "kit"
    rows = [
        measure(
            "build the kit (`make assign`)",
            [sys.executable, "-m", "instructor.assign", name, "--out", str(kit)],
            cwd=REPO,
            note="otter assign, including its own grading of the solutions",
        )
    ]
    zip_path = kit / "autograder" / name / f"{name}-autograder.zip"
    solutions = kit / "solutions" / name / f"{name}.ipynb"
    student = kit / "student" / name / f"{name}.ipynb"
    trivial, trivial_solutions = trivial_zip(work)
    rows.append(measure(YARDSTICK, grade_command(trivial, trivial_solutions), note="the yardstick: otter alone, same entry point", repeat=3))
    rows.append(measure("grade the solutions", grade_command(zip_path, solutions), note="demo cells skipped", repeat=3))
    rows.append(
        measure("grade the solutions, one core", grade_command(zip_path, solutions, cpus="0"), note="`taskset -c 0`", repeat=3)
    )
    rows.append(measure("grade the untouched student notebook", grade_command(zip_path, student), repeat=3))
    for label, answer in (
        ("a wide honest network (4x512 ReLU)", WIDE_NETWORK.format(width=512, depth=4, epochs=300)),
        ("a wider one (8x1024 ReLU, 7.3 M weights)", WIDE_NETWORK.format(width=1024, depth=8, epochs=8)),
        ("the largest description the caps allow (1,000 operations)", LARGEST_DESCRIPTION),
    ):
        notebook = with_regressor(solutions, answer, work / label.split(" (")[0].replace(" ", "-") / f"{name}.ipynb")
        if notebook is not None:  # the lesson's regression exercise (fcnn)
            rows.append(measure(f"grade {label}", grade_command(zip_path, notebook), note="the regression answer replaced"))
    baseline = without_skip_markers(solutions, work / "baseline" / f"{name}.ipynb")
    rows.append(measure("baseline: grade the solutions, nothing skipped", grade_command(zip_path, baseline), note="every demo cell runs"))

    # A student's run: the solutions notebook in the handed-out folder, executed top to bottom.
    folder = shutil.copytree(kit / "student" / name, work / "student-run")
    shutil.copy(solutions, folder / f"{name}.ipynb")
    rows.append(
        measure(
            "a student runs the notebook top to bottom",
            [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=1200",
             "--output", "executed.ipynb", f"{name}.ipynb"],
            cwd=folder,
            note="`jupyter nbconvert --execute`, demos and plots included",
        )
    )
    return rows


def table(rows: list[Measurement]) -> str:
    solutions_wall = next(r.wall_s for r in rows if r.label == "grade the solutions")
    yardstick_cpu = next(r.cpu_s for r in rows if r.label == YARDSTICK)
    lines = [
        "| what | wall (s) | CPU (s) | peak memory (MB) | wall / grading the solutions | CPU / plain otter | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        grading = r.label != "build the kit (`make assign`)"
        ratio = f"{r.wall_s / solutions_wall:.1f}×" if grading else ""
        against = f"{r.cpu_s / yardstick_cpu:.2f}×" if grading else ""
        lines.append(f"| {r.label} | {r.wall_s:.1f} | {r.cpu_s:.1f} | {r.peak_mb:.0f} | {ratio} | {against} | {r.note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", help="the assignment under assignments/ (default: the only one)")
    parser.add_argument("--out", type=pathlib.Path, help="where to write the table (default: docs/NAME/bench.md)")
    args = parser.parse_args(argv)
    name = chosen(args.assignment)
    out = args.out or REPO / "docs" / name / "bench.md"
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        rows = run_benchmarks(pathlib.Path(tmp), name)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"Measured by `make bench` on {stamp}: {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}.\n\n"
    )
    report = header + table(rows) + "\n"
    print("\n" + report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# Benchmark: {name}\n\n" + report)
    print(f"[bench] wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
