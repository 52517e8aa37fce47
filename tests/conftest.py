"""Fixtures shared by the tests: the kit built afresh, submissions made from it, and real grading.

Grading runs the freshly built autograder zip the way Gradescope runs it (its ``run_otter.py``, which
calls otter-grader's autograding); ``make grade``'s tests go through ``otter run``. Nothing of otter,
torch or Jupyter is mocked.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import sys
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import nbformat
import pytest
import torch

from grading_engine.gradescope import grade_in
from instructor.assign import REPO, BuildOutputs, build, outputs_under

# Each assignment's lesson package is importable by the tests, as by its notebook (the packages' names differ;
# scripts that every assignment has, such as calibrate.py, are loaded by `assignment_script`). A copy of the
# repository without assignments/ still runs tests/engine: the engine's tests grade an assignment of their own.
ASSIGNMENTS = REPO / "assignments"
sys.path.extend(str(folder) for folder in sorted(ASSIGNMENTS.iterdir()) if folder.is_dir()) if ASSIGNMENTS.is_dir() else None


def assignment_script(assignment: str, script: str):
    """``assignments/ASSIGNMENT/SCRIPT.py`` as a module of its own (every assignment has a ``calibrate.py``)."""
    import importlib.util

    name = f"{assignment}_{script}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "assignments" / assignment / f"{script}.py")
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


# The tests train networks in their own process too (the fairness corpus builds each style directly, the checks'
# and calibration's tests): with one thread, as the grading kernel trains (LeanKernel). Two threads on these tiny
# networks cost three times the CPU while the other worker and the gradings fill both cores, and could round
# differently from the kernel.
torch.set_num_threads(1)

ASSIGNMENT = "fcnn"
"""The assignment most tests grade: the engine's end-to-end tests grade it too."""
MASTER = REPO / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SUBMISSIONS = REPO / "assignments" / ASSIGNMENT / "fixtures"
GRADED_NAMES = {"q_regression": "just_right_regressor", "q_classification": "just_right_classifier"}
"""fcnn's graded names (``fcnn_lesson.exercises``; a test checks they are the same), without importing the lesson here."""
HELDOUT_PLUGIN = "grading_engine.otter_plugins.HeldOutGrading"
GUARDED_PLUGIN = "grading_engine.otter_plugins.GuardedGrading"


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[pathlib.Path], object]) -> pathlib.Path:
    """The folder ``name``, filled by ``make(folder)`` once in this test run, whichever worker asks first.

    `make test` runs two pytest-xdist workers, and some of what their session fixtures make is the same (an
    assignment's kit, the grading of the same notebook with the same zip). The first to ask makes it, holding a
    lock; the other waits for it and uses the same files.
    """
    from filelock import FileLock  # torch's own dependency

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "made-once"  # the run's, not a worker's
    shared.mkdir(exist_ok=True)
    folder = shared / name
    with FileLock(f"{folder}.lock"):
        if not (folder / ".made").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a make that failed half-way
            folder.mkdir()
            make(folder)
            (folder / ".made").touch()
    return folder


def built_kit(tmp_path_factory: pytest.TempPathFactory, assignment: str) -> BuildOutputs:
    """Assignment ``assignment``'s kit, built from its master once in this test run; the repository is left alone."""
    folder = made_once(tmp_path_factory, f"kit-{assignment}", lambda out: build(assignment, out_root=out, self_check=False))
    return outputs_under(assignment, folder)


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> BuildOutputs:
    """The kit built from the master notebook into a temporary folder; the repository is left alone."""
    return built_kit(tmp_path_factory, ASSIGNMENT)


ENGINE_ASSIGNMENT = "engine_check"
"""The engine's own assignment, scaffolded by ``make new``'s code in a temporary folder: the engine's end-to-end
tests grade it, so they stand without any lesson of the course."""


@pytest.fixture(scope="session")
def engine_kit(tmp_path_factory: pytest.TempPathFactory) -> BuildOutputs:
    """The engine's own assignment's kit (one exercise: fit a line), built once in this test run."""
    from instructor.new import scaffold

    def make(out: pathlib.Path) -> None:
        build(ENGINE_ASSIGNMENT, out_root=out / "kit", self_check=False, source=scaffold(ENGINE_ASSIGNMENT, out / "assignments"))

    return outputs_under(ENGINE_ASSIGNMENT, made_once(tmp_path_factory, "engine-kit", make) / "kit")


@pytest.fixture(scope="session")
def engine_grade(engine_kit: BuildOutputs, tmp_path_factory: pytest.TempPathFactory) -> Grader:
    """Grade a submission of the engine's own assignment as Gradescope would."""
    return Grader(engine_kit.autograder_zip, tmp_path_factory)


@pytest.fixture(scope="session")
def master_notebook() -> nbformat.NotebookNode:
    return nbformat.read(MASTER, as_version=4)


@pytest.fixture(scope="session")
def heldout_seeds(kit: BuildOutputs) -> list[str]:
    """The held-out seeds (the secret), from the HeldOutGrading plugin's settings in the built zip."""
    with zipfile.ZipFile(kit.autograder_zip) as zf:
        config = json.loads(zf.read("otter_config.json"))
    (settings,) = [p[HELDOUT_PLUGIN] for p in config["plugins"] if isinstance(p, dict) and HELDOUT_PLUGIN in p]
    return [str(seed) for seed in settings["heldout_seeds"].values()]


@dataclass
class Graded:
    """What Gradescope would read (``results.json``) and what the autograder printed."""

    results: dict
    log: str
    results_path: pathlib.Path
    seconds: float

    def test(self, question: str) -> dict:
        (entry,) = [t for t in self.results["tests"] if t["name"] == question]
        return entry

    def score(self, question: str) -> float:
        return self.test(question)["score"]

    def output(self, question: str) -> str:
        return self.test(question)["output"]

    def public_test_passed(self, question: str) -> bool:
        """The autograder's verdict on the public test (its first case), as data from its ``results.pkl``."""
        return self._pickled().results[question].test_case_results[0].passed

    def notebook_check_passed(self, question: str) -> bool | None:
        """What the notebook's own ``grader.check(question)`` cell said when it ran in the grading kernel
        (None: no such cell ran). Read from the executed notebook the grader saved (``results.pkl``)."""
        for cell in self._pickled().notebook.cells:
            if cell.cell_type == "code" and f'grader.check("{question}")' in cell.source:
                for out in cell.get("outputs", []):
                    text = out.get("data", {}).get("text/plain", "")
                    if f"{question} - 1 result:" in text:
                        return text.split(f"{question} - 1 result:")[1].split("\n", 2)[1].strip().startswith("✅")
                    if "All test cases passed" in text:
                        return True
        return None

    def _pickled(self):
        import dill  # otter's own dependency; it pickles its results with it

        with open(self.results_path.with_name("results.pkl"), "rb") as f:
            return dill.load(f)

    @property
    def general_output(self) -> str:
        """The results' top-level ``output``: what went wrong while the notebook ran, if anything."""
        return self.results.get("output", "")


def grade_like_gradescope(autograder_zip: pathlib.Path, submission: pathlib.Path, root: pathlib.Path) -> Graded:
    """Grade ``submission`` in ``root`` laid out like Gradescope's ``/autograder``, by the zip's ``run_otter.py``.

    That is what Gradescope's ``run_autograder`` runs, once its image is built from the same zip:
    the real otter-grader with the engine's plugins, without Docker (``grading_engine.gradescope.grade_in``).
    """
    started = time.monotonic()
    timeout = float(os.environ.get("KIT_GRADE_TIMEOUT", 900))  # make sabotage lowers it: a hang is a failure
    results, log = grade_in(root, autograder_zip, submission, timeout)
    assert results is not None, f"no results.json:\n{log[-6000:]}"
    return Graded(results, log, root / "results" / "results.json", time.monotonic() - started)


def with_time_limit(autograder_zip: pathlib.Path, dest: pathlib.Path, seconds: int) -> pathlib.Path:
    """A copy of ``autograder_zip`` whose notebook time limit is ``seconds``: the same code under a shorter wait.

    The lesson's own ``Limits`` stay as they are; the copy carries a module of its own with the shorter ones, and
    ``GuardedGrading``'s configuration names that module instead, as an instructor's config would."""
    from graded_networks.exercise import load

    with zipfile.ZipFile(autograder_zip) as src, zipfile.ZipFile(dest, "w") as out:
        config = json.loads(src.read("otter_config.json"))
        (guarded,) = [p for p in config["plugins"] if isinstance(p, dict) and GUARDED_PLUGIN in p]
        limits = load(guarded[GUARDED_PLUGIN]["limits"]) if guarded[GUARDED_PLUGIN].get("limits") else None
        memory, hidden = (limits.memory_mb, limits.hidden) if limits else (1536, ())
        guarded[GUARDED_PLUGIN]["limits"] = "shorter_limits.LIMITS"
        for item in src.infolist():
            out.writestr(item, json.dumps(config) if item.filename == "otter_config.json" else src.read(item.filename))
        out.writestr("files/shorter_limits.py", "from graded_networks.exercise import Limits\n"
                     f"LIMITS = Limits(time_s={seconds}, memory_mb={memory}, hidden={tuple(hidden)!r})\n")  # fmt: skip
    return dest


DOCKER_CAPABILITIES = ("-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,+net_bind_service,"
                       "+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap")  # fmt: skip
"""Docker's default capability set, which Gradescope's container runs as root with: no CAP_SYS_ADMIN."""

GRADESCOPE_MEMORY_MB = 768
"""Gradescope's default container: 768 MB for everything, half a CPU."""


@dataclass
class Container:
    """What a grading in :func:`grade_here` cost: its peak memory (the cgroup's, page cache included) and OOM kills."""

    peak_mb: float
    oom_kills: int


def _cgroup_v1(controller: str) -> pathlib.Path | None:
    base = pathlib.Path("/sys/fs/cgroup") / controller
    return base if (base / "cgroup.procs").exists() and os.access(base, os.W_OK) else None


def grade_here(autograder_zip: pathlib.Path, notebook: pathlib.Path, capabilities: str | None = None, bwrap: bool = True,
               container: bool = False, python: pathlib.Path | str = sys.executable) -> dict:  # fmt: skip
    """``python -m grading_engine.gradescope`` (the README's command) as root, with ``capabilities`` (Docker's: no
    CAP_SYS_ADMIN), without bubblewrap if ``bwrap`` is False, and in a ``container`` as close to Gradescope's default as
    this machine allows (a cgroup of 768 MB for the whole grading and half a CPU; skipped where cgroups are not
    writable), with ``python`` (another environment's, such as a grading image's). Returns results.json with ``log``,
    ``folder`` (the graded folder, kept) and ``container`` added."""
    import subprocess
    import uuid

    command = [str(python), "-m", "grading_engine.gradescope", str(autograder_zip), str(notebook)]
    if capabilities:
        command = ["setpriv", f"--bounding-set={capabilities}", f"--inh-caps={capabilities}", "--", *command]
    groups = []
    if container:
        memory, cpu = _cgroup_v1("memory"), _cgroup_v1("cpu")
        if memory is None:
            pytest.skip("no writable memory cgroup (v1) here to hold the grading to 768 MB")
        groups.append(memory / f"kit-grading-{uuid.uuid4().hex[:12]}")
        groups[0].mkdir()
        (groups[0] / "memory.limit_in_bytes").write_text(str(GRADESCOPE_MEMORY_MB * 2**20))
        if cpu is not None:
            groups.append(cpu / groups[0].name)
            groups[1].mkdir()
            (groups[1] / "cpu.cfs_period_us").write_text("100000")
            (groups[1] / "cpu.cfs_quota_us").write_text("50000")  # half a CPU
        enter = "; ".join(f'echo $$ > "{group}/cgroup.procs"' for group in groups)
        command = ["sh", "-c", f'{enter}; exec "$@"', "sh", *command]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "KIT_BWRAP")}
    if not bwrap:
        env["KIT_BWRAP"] = ""  # as if bubblewrap were missing, or user namespaces refused
    try:
        run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        cost = None
        if groups:
            oom = (groups[0] / "memory.oom_control").read_text().split()
            kills = int(oom[oom.index("oom_kill") + 1]) if "oom_kill" in oom else 0
            cost = Container(int((groups[0] / "memory.max_usage_in_bytes").read_text()) / 2**20, kills)
    finally:
        for group in groups:
            for _ in range(50):  # its processes take a moment to leave it
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
    folder = pathlib.Path(run.stdout.split("grading in ", 1)[1].split(";", 1)[0])
    results_file = folder / "results" / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return results | {"log": run.stdout + run.stderr, "folder": folder, "container": cost}


class Grader:
    """Grades submission files with a built autograder zip, each file once in a test run, several at a time.

    A file with the same name and bytes graded with the same zip by the other test worker (the solutions, the
    untouched notebook) is graded once, by whichever asks first (:func:`made_once`).
    """

    def __init__(self, autograder_zip: pathlib.Path, tmp_path_factory: pytest.TempPathFactory):
        self.autograder_zip, self.tmp_path_factory = autograder_zip, tmp_path_factory
        self._graded: dict[tuple[pathlib.Path, pathlib.Path], Graded] = {}

    def __call__(self, submission: pathlib.Path, autograder_zip: pathlib.Path | None = None) -> Graded:
        return self.many([submission], autograder_zip)[0]

    def many(self, submissions: list[pathlib.Path], autograder_zip: pathlib.Path | None = None) -> list[Graded]:
        """Grade ``submissions`` two at a time (these machines have 2 cores; grading uses one each)."""
        zip_ = autograder_zip or self.autograder_zip
        todo = [s for s in dict.fromkeys(submissions) if (zip_, s) not in self._graded]
        with ThreadPoolExecutor(max_workers=2) as pool:
            for submission, graded in zip(todo, pool.map(lambda s: self._grade_once(zip_, s), todo)):
                self._graded[(zip_, submission)] = graded
        return [self._graded[(zip_, s)] for s in submissions]

    def _grade_once(self, autograder_zip: pathlib.Path, submission: pathlib.Path) -> Graded:
        key = hashlib.sha256(autograder_zip.read_bytes() + submission.name.encode() + b"\0" + submission.read_bytes())

        def grade_into(folder: pathlib.Path) -> None:
            graded = grade_like_gradescope(autograder_zip, submission, folder / "autograder")
            (folder / "graded.json").write_text(json.dumps({"log": graded.log, "seconds": graded.seconds}))

        folder = made_once(self.tmp_path_factory, f"graded-{key.hexdigest()[:20]}", grade_into)
        made = json.loads((folder / "graded.json").read_text())
        results_path = folder / "autograder" / "results" / "results.json"
        return Graded(json.loads(results_path.read_text()), made["log"], results_path, made["seconds"])


@pytest.fixture(scope="session")
def grade(kit: BuildOutputs, tmp_path_factory: pytest.TempPathFactory) -> Grader:
    """Grade a submission as Gradescope would, with the freshly built zip; ``grade.many`` for several at once."""
    return Grader(kit.autograder_zip, tmp_path_factory)


@pytest.fixture(scope="session")
def make_submission(kit: BuildOutputs, tmp_path_factory: pytest.TempPathFactory):
    """The student notebook with its exercise cells answered by snippets from ``assignments/fcnn/fixtures/``.

    ``make_submission(q_regression="linear_regressor")`` answers the regression exercise with
    ``fixtures/linear_regressor.py`` and leaves the other exercise untouched, as a student would.
    """

    made: dict[tuple, pathlib.Path] = {}

    def _make(**answers: str) -> pathlib.Path:
        key = tuple(sorted(answers.items()))
        if key not in made:
            made[key] = _write(answers)
        return made[key]

    def _write(answers: dict[str, str]) -> pathlib.Path:
        nb = nbformat.read(kit.student_dir / f"{ASSIGNMENT}.ipynb", as_version=4)
        for question, snippet in answers.items():
            (cell,) = [c for c in nb.cells if answer_cell_of(c, GRADED_NAMES[question])]
            cell.source = (SUBMISSIONS / f"{snippet}.py").read_text()
        path = tmp_path_factory.mktemp("submission") / f"{ASSIGNMENT}.ipynb"
        nbformat.write(nb, path)
        return path

    return _make


def files_under(root: pathlib.Path) -> dict[pathlib.Path, bytes]:
    """Every file under ``root`` (build leftovers aside), by relative path, with its bytes."""
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def answer_cell_of(cell: nbformat.NotebookNode, graded_name: str) -> bool:
    """Whether ``cell`` is the student notebook's answer cell that binds ``graded_name``."""
    return (
        cell.cell_type == "code"
        and "otter_answer_cell" in cell.metadata.get("tags", [])
        and f"{graded_name} = " in cell.source
    )


LONGEST_FIRST = ("test_corpus.py", "test_browser.py", "test_gradescope_budget.py", "test_grading.py", "test_fairness.py",
                 "test_cross_grading.py", "test_digits.py", "test_arrivals.py", "test_randomness.py", "test_scaffold.py")
"""Test files that take minutes. `make test` runs two files at a time (pytest-xdist, in this order):
starting these first keeps both cores busy to the end instead of leaving one long file for last."""


BUILDS_A_KIT = {"kit", "grade", "make_submission", "heldout_seeds", "engine_kit", "engine_grade"}
"""Fixtures that build a kit: a test that uses one is slow, whatever its file says (-m "not slow" builds none)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BUILDS_A_KIT & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay contiguous
