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
    rows.append(measure("grade the solutions", grade_command(zip_path, solutions), note="demo cells skipped", repeat=3))
    rows.append(
        measure("grade the solutions, one core", grade_command(zip_path, solutions, cpus="0"), note="`taskset -c 0`", repeat=3)
    )
    rows.append(measure("grade the untouched student notebook", grade_command(zip_path, student), repeat=3))
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
    lines = [
        "| what | wall (s) | CPU (s) | peak memory (MB) | wall / grading the solutions | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ratio = f"{r.wall_s / solutions_wall:.1f}×" if r.label != "build the kit (`make assign`)" else ""
        lines.append(f"| {r.label} | {r.wall_s:.1f} | {r.cpu_s:.1f} | {r.peak_mb:.0f} | {ratio} | {r.note} |")
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
