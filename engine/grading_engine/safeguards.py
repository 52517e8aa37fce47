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

import io
import math
import pickle
import sys
import time
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import nbformat
from nbclient.exceptions import DeadKernelError
from nbclient.util import run_sync
from nbconvert.preprocessors import ExecutePreprocessor

from graded_networks.exercise import DEFAULT_LIMITS

if TYPE_CHECKING:
    from .sandbox import Sandbox

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
    """What the grading is doing, for a message if its whole budget runs out (``processes.start_watchdog``)."""


@dataclass
class Grading:
    """One grading's state, made by ``GuardedGrading`` and held by the executor it installs (the one place otter
    lets the engine keep state between its plugins): the kernel's box and what the run reports."""

    sandbox: Sandbox | None
    report: RunReport = field(default_factory=RunReport)


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


class KernelResultsIgnored:
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

    otter.execute.pickle = KernelResultsIgnored


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

    time_limit_s: float = float(DEFAULT_LIMITS.time_s)
    """The notebook's budget (``Limits.time_s``), set by :func:`install_guarded_executor`."""
    grading_deadline: float = math.inf
    """When the whole grading must be done (``time.monotonic()``): the notebook's budget ends early enough for it."""
    grading: Grading | None = None
    """This grading's box and report, set by :func:`install_guarded_executor` (none: a kernel of the machine's own)."""

    def preprocess(self, nb, resources=None, km=None):
        from .sandbox import KERNELSPEC

        self.grading = self.grading or Grading(None)
        if self.grading.sandbox is not None:
            self.kernel_name = KERNELSPEC  # the kernel runs in this grading's box (see sandbox.py)
        self._set_deadline()
        self._kernel_lost = False
        self._output_bytes, self._output_cut = 0, False
        self._last_label = "the start"  # the last cell of the notebook's own that ran, to place an added one
        return super().preprocess(nb, resources, km)

    def _set_deadline(self) -> None:
        budget_end = self.grading_deadline - EXPORT_GRACE_S - ASSESSMENT_S
        self._deadline = min(time.monotonic() + self.time_limit_s, budget_end)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if self.grading.sandbox is not None:  # this grading's kernelspec, and no other (no JUPYTER_PATH to change)
            from jupyter_client.kernelspec import KernelSpecManager

            km.kernel_spec_manager = KernelSpecManager(kernel_dirs=[str(self.grading.sandbox.kernelspecs)])
        return km

    async def async_start_new_kernel(self, **kwargs):
        sandbox = self.grading.sandbox
        if sandbox is not None:  # Unix sockets in a folder only this grading can open: the box has no network
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
                said = self.grading.sandbox.log_tail(2000).strip() if self.grading.sandbox else ""
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
        self.grading.report.doing = f"running {label}"
        if self._kernel_lost or (not last_export and time.monotonic() >= self._deadline):
            cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="[autograder] not run\n")]
            return cell, resources
        started = time.monotonic()
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._kernel_lost = True
            self.grading.report.incidents.append(
                f"The Python kernel died while running {label}: most likely it ran out of memory. "
                "The cells after it were not run; what they define was not graded."
            )
            return cell, resources
        if last_export and time.monotonic() - started >= EXPORT_GRACE_S:
            self._kernel_lost = True  # it ignored the interrupt and is still busy: nothing more will run
        elif not last_export and time.monotonic() >= self._deadline:  # interrupted when the budget ran out
            self.grading.report.incidents.append(
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
            self.grading.report.incidents.append(
                f"The notebook printed more than {MAX_OUTPUT_BYTES // 2**20} MB; the autograder kept the first "
                f"{MAX_OUTPUT_BYTES // 2**20} MB of it (printing does not change the grade)."
            )
        return None


def install_guarded_executor(time_limit_s: float, grading: Grading, grading_deadline: float = math.inf) -> None:
    """Make otter's ``grade_notebook`` run notebooks with :class:`GuardedExecutePreprocessor`, for ``grading``.

    ``grade_notebook`` imports ``ExecutePreprocessor`` from ``nbconvert.preprocessors`` when it runs,
    so replacing that attribute here is enough. The executor installed is a class of this grading's own.
    """
    import nbconvert.preprocessors

    settings = {"time_limit_s": float(time_limit_s), "grading_deadline": grading_deadline, "grading": grading}
    nbconvert.preprocessors.ExecutePreprocessor = type("GuardedExecutePreprocessor", (GuardedExecutePreprocessor,), settings)


def installed_grading() -> Grading:
    """The grading the installed executor runs for (``GuardedGrading`` installs it before any other plugin acts)."""
    import nbconvert.preprocessors

    executor = nbconvert.preprocessors.ExecutePreprocessor
    if not (isinstance(executor, type) and issubclass(executor, GuardedExecutePreprocessor)):
        raise RuntimeError("GuardedGrading must come first among the plugins: it sets up the grading")
    return executor.grading


