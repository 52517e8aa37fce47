"""Guards around one grading run, used by ``otter_plugins.GuardedGrading``.

Otter-grader runs the submitted notebook in a kernel started by its own grading process, then trusts
what that kernel hands back: it unpickles the kernel's results file and the log records the kernel
sends it, and it waits for the notebook without any time limit. Otter has no setting or plugin hook
for any of that, so the plugin replaces these few module attributes of otter and nbconvert in the
grading process (one process per submission) before the kernel starts:

- the kernel's results pickle is never read (:func:`ignore_kernel_results`): every score comes from
  ``HeldOutGrading``, computed in the grading process;
- the log records the kernel sends are decoded by an unpickler that refuses every class
  (:func:`decode_log_records_safely`);
- the notebook runs under a time budget, each cell is interrupted when it runs out, and a dead kernel
  (killed for memory) ends the run instead of crashing it (:class:`GuardedExecutePreprocessor`);
- processes the notebook leaves behind are killed before the results are written
  (:func:`adopt_orphans`, :func:`kill_descendants`).
"""

from __future__ import annotations

import ctypes
import io
import math
import os
import pathlib
import pickle
import re
import signal
import sys
import time
import types
from dataclasses import dataclass, field

import nbformat
from nbclient.exceptions import DeadKernelError
from nbclient.util import run_sync
from nbconvert.preprocessors import ExecutePreprocessor

CELL_KEY = "grading_cell"
"""Cell metadata: the cell's number and first line in the notebook as submitted, to name it in messages."""

EXPORT_KEY = "grading_export"
"""Cell metadata of the cells ``HeldOutGrading`` adds; the last of them (:data:`LAST_EXPORT`) runs even after the
notebook's budget is spent, so that the answers given so far are graded."""
LAST_EXPORT = "last"

EXPORT_GRACE_S = 30
"""Time the last added export cell gets after the notebook's budget is spent (the others count against it)."""

ASSESSMENT_S = 30
"""Kept of the whole grading's budget for what follows the notebook: the held-out assessment and the results."""

MAX_OUTPUT_BYTES = 4 * 2**20
"""What the grader keeps of everything the notebook's cells print: the rest is dropped (nothing graded reads it)."""

KERNEL_STARTS = 2
"""How many kernels grading starts before it gives up on one that never answers (none of the notebook has run yet)."""


@dataclass
class RunReport:
    """What went wrong while the notebook ran, in sentences a student can act on, and what grading is doing now."""

    incidents: list[str] = field(default_factory=list)
    doing: str = "starting"
    """What the grading is doing, for a message if its whole budget runs out (``start_watchdog``)."""


REPORT = RunReport()
"""The report of this process's grading run (one submission per grading process)."""


def cell_label(cell: nbformat.NotebookNode) -> str:
    """``cell 12 (`first line`)`` for a cell of the submitted notebook, or ``an added cell``."""
    info = cell.get("metadata", {}).get(CELL_KEY)
    if not info:
        return "a cell the autograder added"
    line = info["first_line"]
    return f"cell {info['number']} (`{line[:60]}{'...' if len(line) > 60 else ''}`)"


def number_cells(nb: nbformat.NotebookNode) -> None:
    """Record each cell's position and first line as submitted, before anything is inserted."""
    for number, cell in enumerate(nb.cells, start=1):
        lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
        cell.metadata[CELL_KEY] = {"number": number, "first_line": lines[0] if lines else ""}


class _KernelResultsIgnored:
    """Stands in for ``pickle`` in ``otter.execute``: the kernel's results file is never unpickled."""

    @staticmethod
    def load(file: io.BufferedReader):
        from otter.test_files import GradingResults

        # Empty, trusted results: HeldOutGrading fills in every question after the notebook has run.
        return GradingResults([])


def ignore_kernel_results() -> None:
    """Make otter's ``grade_notebook`` ignore the pickle the student's kernel writes.

    Unpickling it would run any code the notebook put there, in the grading process, and its scores
    are whatever the notebook's code says they are.
    """
    import otter.execute

    otter.execute.pickle = _KernelResultsIgnored


class _NoClassesUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"log records may not contain {module}.{name}")


def decode_log_records_safely() -> None:
    """Decode the log records the kernel sends to otter's log server without running any code.

    ``logging.handlers.SocketHandler`` pickles a plain dict of strings and numbers, so an unpickler
    that refuses every class still reads real records; anything else is dropped with an error.
    """
    import otter.execute.logging as otter_logging

    otter_logging.pickle = types.SimpleNamespace(loads=lambda data: _NoClassesUnpickler(io.BytesIO(data)).load())


class GuardedExecutePreprocessor(ExecutePreprocessor):
    """nbconvert's executor with a time budget for the whole notebook and tolerance of a dead kernel.

    Each cell may run for what is left of the budget, the added export cells too; a cell still running then is
    interrupted and the cells after it are skipped, except the last export cell, which gets :data:`EXPORT_GRACE_S`
    so that the answers given so far are still graded. The budget ends early enough for the whole grading to end
    within ``grading_deadline``. What the cells print is kept up to :data:`MAX_OUTPUT_BYTES`. When the
    kernel dies (the memory limit, a crash), the remaining cells are skipped and grading goes on.
    A kernel that does not answer when it starts is replaced (up to :data:`KERNEL_STARTS` kernels): no cell
    has run then, so it is never the notebook's doing, and the budget starts when a kernel answers.
    """

    time_limit_s: float = 480.0
    grading_deadline: float = math.inf
    """When the whole grading must be done (``time.monotonic()``): the notebook's budget ends early enough for it."""

    def preprocess(self, nb, resources=None, km=None):
        from .sandbox import KERNELSPEC, current

        if current().prepared:
            self.kernel_name = KERNELSPEC  # the kernel runs in this grading's box (see sandbox.py)
        self._set_deadline()
        self._kernel_lost = False
        self._output_bytes, self._output_cut = 0, False
        self._last_label = "the start"  # the last cell of the notebook's own that ran, to place an added one
        return super().preprocess(nb, resources, km)

    def _set_deadline(self) -> None:
        budget_end = self.grading_deadline - EXPORT_GRACE_S - ASSESSMENT_S
        self._deadline = min(time.monotonic() + self.time_limit_s, budget_end)

    async def async_start_new_kernel(self, **kwargs):
        from .sandbox import current

        sandbox = current()
        if sandbox.prepared:  # Unix sockets in a folder only this grading can open: the box has no network
            self.km.transport = "ipc"
            self.km.ip = str(sandbox.ipc / "kernel")
        await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    async def async_start_new_kernel_client(self):
        for start in range(1, KERNEL_STARTS + 1):
            try:
                client = await super().async_start_new_kernel_client()
                break
            except RuntimeError as error:  # no answer (nbclient has shut that kernel down and dropped its manager)
                from .sandbox import current

                said = current().log_tail(2000).strip()
                print(f"[autograder] the kernel did not start ({error})" + (f"; it printed:\n{said}" if said else ""),
                      file=sys.stderr, flush=True)  # fmt: skip
                if start == KERNEL_STARTS:
                    raise
                print("[autograder] starting another kernel", file=sys.stderr, flush=True)
                self.km = self.create_kernel_manager()
                await self.async_start_new_kernel()
        self._set_deadline()  # the notebook's budget starts when a kernel answers
        return client

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def reset_execution_trackers(self) -> None:
        # runs inside preprocess(), after nbconvert re-initialises the client's settings
        super().reset_execution_trackers()
        self.interrupt_on_timeout = True
        # reply at once after the interrupt: a kernel that ignores it must not hang the run
        self.error_on_timeout = {"ename": "TimeLimitExceeded", "evalue": "the notebook's time limit ran out"}
        self.timeout_func = self._timeout

    def _timeout(self, cell: nbformat.NotebookNode) -> int:
        left = self._deadline - time.monotonic()
        if cell.metadata.get(EXPORT_KEY) == LAST_EXPORT and left < EXPORT_GRACE_S:
            left = EXPORT_GRACE_S  # the last description: its grace, inside the whole grading's budget
        return max(1, math.ceil(left))  # up to the deadline, not short of it

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        last_export = cell.metadata.get(EXPORT_KEY) == LAST_EXPORT
        export = bool(cell.metadata.get(EXPORT_KEY))
        if not export:
            self._last_label = cell_label(cell)
        label = cell_label(cell) if not export else (
            f"the autograder's description of your graded networks (after {self._last_label}), "
            "which evaluates them"
        )  # fmt: skip
        REPORT.doing = f"running {label}"
        if self._kernel_lost or (not last_export and time.monotonic() >= self._deadline):
            cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="[autograder] not run\n")]
            return cell, resources
        started = time.monotonic()
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._kernel_lost = True
            REPORT.incidents.append(
                f"The Python kernel died while running {label}: most likely it ran out of memory. "
                "The cells after it were not run; what they define was not graded."
            )
            return cell, resources
        if last_export and time.monotonic() - started >= EXPORT_GRACE_S:
            self._kernel_lost = True  # it ignored the interrupt and is still busy: nothing more will run
        elif not last_export and time.monotonic() >= self._deadline:  # interrupted when the budget ran out
            REPORT.incidents.append(
                f"{label[0].upper()}{label[1:]} was still running when the notebook's {self.time_limit_s:.0f} s "
                "time limit ran out. It was interrupted and the cells after it were not run. Look for a loop "
                "that never ends, or training far longer than the exercise allows."
            )
        return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        # what the notebook prints is kept in this process (and pickled with the results): bounded, not graded
        content = msg.get("content", {})
        self._output_bytes += len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        if self._output_bytes <= MAX_OUTPUT_BYTES:
            return super().output(outs, msg, display_id, cell_index)
        if not self._output_cut:
            self._output_cut = True
            note = f"[autograder] the notebook printed more than {MAX_OUTPUT_BYTES // 2**20} MB: the rest is not kept\n"
            outs.append(nbformat.v4.new_output("stream", name="stderr", text=note))
            REPORT.incidents.append(
                f"The notebook printed more than {MAX_OUTPUT_BYTES // 2**20} MB; the autograder kept the first "
                f"{MAX_OUTPUT_BYTES // 2**20} MB of it (printing does not change the grade)."
            )
        return None


GRADER_HEADROOM_MB = 768
"""What the grading process may map, beyond what it maps when the notebook has run, to read, rebuild and measure the
graded networks (the largest description the caps allow needs about 450 MB; the 8x1024 network, 150 MB)."""


def cap_own_memory(headroom_mb: int = GRADER_HEADROOM_MB) -> None:
    """Cap this process's address space at what it maps now plus ``headroom_mb``: past it an allocation fails in the
    grading code, which says so in the results, instead of the container's OOM killer ending the grading with none."""
    import resource

    with open("/proc/self/status") as f:
        mapped = int(next(line for line in f if line.startswith("VmSize:")).split()[1]) * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped + headroom_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def process_age_s() -> float:
    """How long this process has run (from ``/proc``; 0 where it cannot tell): the whole grading's clock."""
    try:
        with open("/proc/self/stat") as f:
            started_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def start_watchdog(deadline: float, on_timeout) -> None:
    """Call ``on_timeout()`` at ``deadline`` (``time.monotonic()``) unless the process has ended: the whole grading's
    budget, for whatever no other limit bounds (a hang in otter itself, an assessment that never ends)."""
    import threading

    def watch() -> None:
        time.sleep(max(0.0, deadline - time.monotonic()))
        on_timeout()

    threading.Thread(target=watch, name="grading-watchdog", daemon=True).start()


EXPECTED_OTTER_VERSION = "7.0.0"
"""The otter-grader version whose internals the guards below were written against (requirements.txt pins it)."""


class SafeguardError(RuntimeError):
    """A guard no longer fits the installed otter or nbconvert: the submission is not graded."""


GUARDED_PACKAGES = ("nbconvert", "nbclient", "jupyter_client", "ipykernel", "pyzmq")
"""Besides otter: the packages whose internals the guards rely on (the executor, the kernel's transport and start,
its interrupt). Each must be installed at the version the zip's requirements.txt pins, which the tests ran."""


def read_pins(requirements: pathlib.Path) -> dict[str, str] | None:
    """``name -> version`` of the ``==`` pins in a requirements file or in the pip section of otter's
    ``environment.yml`` (names normalised, extras and a local label such as ``+cpu`` left out); None where there is
    no such file (otter assign's own check of the solutions, in the instructor's environment: a zip that Gradescope
    installs always has one)."""
    try:
        lines = [line.split("#")[0].strip().removeprefix("- ").strip() for line in requirements.read_text().splitlines()]
    except FileNotFoundError:
        return None
    pins = (line.partition("==") for line in lines)
    return {normal_name(name): version.split("+")[0].strip() for name, _, version in pins if version}


def normal_name(name: str) -> str:
    """A package's name as pip compares names (PEP 503), extras left out: ``jupyter_client`` is ``jupyter-client``."""
    return re.sub(r"[-_.]+", "-", name.split("[")[0].strip()).lower()


def check_otter_fits(pins: dict[str, str] | None = None) -> None:
    """Check that every attribute the guards replace exists and is what they expect, before replacing any, and
    (with ``pins``, the zip's requirements) that each of :data:`GUARDED_PACKAGES` is installed at its pinned version.

    Raises:
        SafeguardError: with an instructor-facing message; grading stops instead of running unguarded.
    """
    import importlib.metadata
    import inspect

    import nbconvert.preprocessors
    import otter
    import otter.execute
    import otter.execute.logging as otter_logging

    problems = []
    if otter.__version__ != EXPECTED_OTTER_VERSION:
        problems.append(f"otter-grader is {otter.__version__}, the kit's guards were written for {EXPECTED_OTTER_VERSION}")
    for package in GUARDED_PACKAGES if pins is not None else ():
        installed = importlib.metadata.version(package)
        if pins.get(normal_name(package)) is None:
            problems.append(f"the autograder's requirements.txt does not pin {package} (installed: {installed})")
        elif installed.split("+")[0] != pins[normal_name(package)]:
            problems.append(f"{package} is {installed}, the autograder's requirements.txt pins {pins[normal_name(package)]}")
    if getattr(otter.execute, "pickle", None) not in (pickle, _KernelResultsIgnored):
        problems.append("otter.execute no longer reads the kernel's results with pickle")
    if getattr(otter_logging, "pickle", None) is not pickle and not isinstance(getattr(otter_logging, "pickle", None), types.SimpleNamespace):
        problems.append("otter.execute.logging no longer decodes log records with pickle")
    executor = getattr(nbconvert.preprocessors, "ExecutePreprocessor", None)
    if not (isinstance(executor, type) and issubclass(executor, ExecutePreprocessor)):
        problems.append("nbconvert.preprocessors.ExecutePreprocessor is not nbconvert's executor")
    if "from nbconvert.preprocessors import ExecutePreprocessor" not in inspect.getsource(otter.execute.grade_notebook):
        problems.append("otter's grade_notebook no longer takes its executor from nbconvert.preprocessors")
    if problems:
        raise SafeguardError(
            "Not graded: the autograder's safeguards do not fit the installed software ("
            + "; ".join(problems)
            + "). Instructor: rebuild the autograder zip with the kit's pinned versions (make assign)."
        )


def install_guarded_executor(time_limit_s: float, grading_deadline: float = math.inf) -> None:
    """Make otter's ``grade_notebook`` run notebooks with :class:`GuardedExecutePreprocessor`.

    ``grade_notebook`` imports ``ExecutePreprocessor`` from ``nbconvert.preprocessors`` when it runs,
    so replacing that attribute here is enough.
    """
    import nbconvert.preprocessors

    GuardedExecutePreprocessor.time_limit_s = float(time_limit_s)
    GuardedExecutePreprocessor.grading_deadline = grading_deadline
    nbconvert.preprocessors.ExecutePreprocessor = GuardedExecutePreprocessor


def memory_limit_startup(limit_mb: int) -> str:
    """Kernel start-up code that caps its address space: an allocation past it raises MemoryError.

    A capped allocation fails inside the cell that made it (graded like any exception) instead of
    the container running out of memory and killing the grader with no results at all.
    """
    limit = int(limit_mb) * 1024 * 1024
    return f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"


_PR_SET_DUMPABLE = 4


def private_memory_startup() -> str:
    """Kernel start-up code that keeps other processes of the kernel's user out of its memory and environment.

    Gradings side by side on one machine run their kernels as the same user, which may otherwise inspect another
    (``/proc/PID/mem``, ptrace) and copy a classmate's trained network out of it. A process that is not dumpable
    can be inspected only by root.
    """
    return f"import ctypes\nctypes.CDLL(None).prctl({_PR_SET_DUMPABLE}, 0, 0, 0, 0)\ndel ctypes\n"


_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> bool:
    """Become the parent of every process the kernel leaves orphaned (Linux), so none can escape cleanup.

    Returns:
        Whether the operating system supports it.
    """
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_descendants() -> int:
    """SIGKILL every process descended from this one (a notebook's background jobs); return how many."""
    children: dict[int, list[int]] = {}
    zombies = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # the command name (field 2) may hold spaces and parentheses: split after its last ")"
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(int(ppid), []).append(int(entry))
        if state == "Z":
            zombies.add(int(entry))
    killed, todo = 0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        if pid in zombies:  # already dead (a box's first process, adopted when the box ended): only reaped
            if pid in children.get(os.getpid(), []):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
        killed += 1
    return killed
