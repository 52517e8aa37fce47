"""Issue #3's corpus: odd, broken and hostile submissions, each graded by the real autograder.

Every case is a small edit of the solutions notebook (full marks) or the untouched student notebook
(no marks), so its expected score follows from what the edit does to the honest work in it. Each gets
exactly that score, a message saying why, and a results file; none crashes or hangs the grader.
All cases are graded up front, two at a time (see ``Grader.many``).
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nbformat
import pytest

from conftest import SUBMISSIONS, with_time_limit
from grading_engine.safeguards import EXPORT_GRACE_S, EXPORT_KEY, LAST_EXPORT

pytestmark = pytest.mark.slow  # grades real notebooks with the built zip

FULL, NONE = 5, 0
CLOSE = 1 + 2  # the public check and the hidden "close" case
SHORT_TIME_LIMIT_S = 45
"""The infinite-loop case runs with this time limit instead of the zip's 480 s (same code, shorter wait);
enough for the cells before the loop even while other tests load both cores."""
HEAVY_CELL = "blocks = []"


@dataclass
class Case:
    """A submission, how to make it, and what grading it must give."""

    make: Callable[[Maker], pathlib.Path]
    regression: int
    classification: int
    says: dict[str, str] = field(default_factory=dict)
    """Substrings expected in a question's output; key "general" for the results' top-level output."""
    short_time_limit: bool = False
    graded: bool = True
    """False: nothing can be graded; the results hold a total of 0 and the reason, no per-question scores."""


class Maker:
    """Writes case submissions into a folder, from the freshly built solutions and student notebooks."""

    def __init__(self, kit, folder: pathlib.Path):
        self.kit, self.folder = kit, folder
        self.host_tmp: set[str] = set()  # /tmp's entries when grading began

    def solutions(self) -> nbformat.NotebookNode:
        return nbformat.read(self.kit.solutions_notebook, as_version=4)

    def student(self) -> nbformat.NotebookNode:
        return nbformat.read(self.kit.student_dir / "fcnn.ipynb", as_version=4)

    def write(self, case_id: str, nb: nbformat.NotebookNode) -> pathlib.Path:
        path = self.folder / case_id / "fcnn.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        return path

    def write_bytes(self, case_id: str, name: str, data: bytes) -> pathlib.Path:
        path = self.folder / case_id / name
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        return path

    def zip(self, case_id: str, files: dict[str, bytes]) -> pathlib.Path:
        path = self.folder / case_id / "submission.zip"
        path.parent.mkdir(parents=True)
        with zipfile.ZipFile(path, "w") as z:
            for name, data in files.items():
                z.writestr(name, data)
        return path

    @property
    def marker(self) -> pathlib.Path:
        """A file that only code the grader must never run would create."""
        return self.folder / "pwned"



def code(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source)


def after(nb: nbformat.NotebookNode, predicate: Callable, *cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Insert ``cells`` right after the first cell matching ``predicate``."""
    index = next(i for i, c in enumerate(nb.cells) if predicate(c)) + 1
    nb.cells[index:index] = list(cells)
    return nb


def appended(nb: nbformat.NotebookNode, *cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.cells.extend(cells)
    return nb


def regression_answer(c) -> bool:
    return c.cell_type == "code" and "just_right_regressor = " in c.source


def classification_answer(c) -> bool:
    return c.cell_type == "code" and "just_right_classifier = " in c.source


def replace_answer(nb, predicate, source: str) -> nbformat.NotebookNode:
    next(c for c in nb.cells if predicate(c)).source = source
    return nb


OTTER_PATCH = """\
import otter.test_files.ok_test as t; t.run_doctest = lambda *a: (True, "")
import otter.test_files.abstract_test as a
a.TestFile.score = property(lambda self: self.possible)
a.TestFile.passed_all = property(lambda self: True)
"""

TORCH_PATCH = """\
import numpy as np, torch, torch.nn.functional as F
torch.mean = lambda *a, **k: torch.tensor(0.0)
F.mse_loss = lambda *a, **k: torch.tensor(0.0)
torch.Tensor.__gt__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)
torch.Tensor.__lt__ = lambda self, other: torch.zeros(self.shape, dtype=torch.bool)
np.mean = lambda *a, **k: 0.0
"""

SPY = """\
import json, os, pathlib
seen = {}
for root in ("..", "tests"):
    for path in pathlib.Path(root).rglob("*"):
        if path.is_file() and path.suffix in (".py", ".json", ".yml", ".sh", "") and "submission" not in path.parts[:2]:
            try:
                seen[str(path)] = path.read_text()[:20000]
            except (OSError, UnicodeDecodeError):
                pass
print(seen.get("tests/q_regression.py"))
print("SPY-REPORT " + json.dumps(seen))
"""

FORGE_RESULTS = """\
import json, subprocess
forged = json.dumps({"score": 100, "tests": [{"name": "q_regression", "score": 5, "max_score": 5}]})
# after the grader has written its own, from a process that outlives the kernel
subprocess.Popen(["bash", "-c", f"sleep 3; echo '{forged}' > ../results/results.json"], start_new_session=True)
# and one that beats a heartbeat into the notebook's folder for as long as it lives (appended: a beat that truncated
# the file could be killed between emptying it and writing, and leave it empty)
subprocess.Popen(["bash", "-c", "while true; do date +%s%N >> heartbeat; sleep 0.2; done"], start_new_session=True)
# and right now
open("../results/results.json", "w").write(forged)
"""

LOG_SERVER_ATTACK = """\
# otter's grading cell sends log records to a server in the grading process, pickled: send a bomb
import io, json, logging, logging.handlers, pickle, socket, struct

class Bomb:
    def __reduce__(self):
        return (io.open, (MARKER, "w"))  # io's: IPython replaces the notebook's open(), which cannot be pickled

loggers = [logging.root] + [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
ports = {h.port for lg in loggers for h in getattr(lg, "handlers", []) if isinstance(h, logging.handlers.SocketHandler)}
assert ports, "found no log server"
sent = refused = 0
for port in ports:
    payload = pickle.dumps(Bomb())
    try:
        with socket.create_connection(("localhost", port), timeout=5) as s:
            s.sendall(struct.pack(">L", len(payload)) + payload)
        sent += 1
    except OSError:  # the box has a network of its own: nothing of the grader's listens there
        refused += 1
print("ATTACK-REPORT " + json.dumps({"bombs sent": sent, "refused": refused}))
"""


ESCAPE = """\
# Root-kernel corpus: write into everything the grader reads later, try to become root, fill the disk.
# Opening for appending proves a file writable without changing it: with a guard switched off (make sabotage),
# this case must not damage the environment the other tests share.
import json, os, pathlib, site, subprocess, sys
import otter, torch
report = {"uid": os.getuid()}
targets = [otter.__file__, torch.__file__, os.__file__, "../source/files/fcnn_lesson/grading.py", "../source/otter_config.json",
           "../source/tests/q_regression.py", "../source/run_otter.py", "../results/results.json"]
for target in targets:
    try:
        with open(target, "a"):
            report[target] = "writable"
    except OSError as e:
        report[target] = type(e).__name__
for folder in site.getsitepackages():
    try:
        planted = pathlib.Path(folder, "kit_planted.pth")
        planted.touch(exist_ok=False)  # a .pth file runs its import lines in every later Python process
        planted.unlink()
        report["pth"] = "writable"
    except OSError as e:
        report["pth"] = type(e).__name__
try:
    os.setuid(0)
    report["setuid"] = "root"
except OSError as e:
    report["setuid"] = type(e).__name__
try:
    report["su"] = subprocess.run(["su", "-c", "id -u"], capture_output=True, stdin=subprocess.DEVNULL, timeout=10).returncode
except (OSError, subprocess.SubprocessError) as e:
    report["su"] = type(e).__name__
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
report["no_new_privs"] = status.get("NoNewPrivs", "").strip()  # 1: no setuid program can raise its rights
report["bounding_set"] = status.get("CapBnd", "").strip()  # 0: no capability can ever be gained again
try:
    with open("filler.bin", "wb") as f:
        for _ in range(64):  # 4 GB in 64 MB blocks, unless something stops it
            f.write(bytes(64 * 2**20))
    report["disk"] = "filled"
except OSError as e:
    report["disk"] = type(e).__name__
os.remove("filler.bin")
print("ATTACK-REPORT " + json.dumps(report))
"""

SPY_AND_KILL = """\
# Root-kernel corpus: find the grading process, read its memory, environment and files, then kill it.
import json, os, signal
report = {"uid": os.getuid(), "groups": os.getgroups()}
report["no_new_privs"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0]
import ctypes
report["dumpable"] = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE: 1 lets its user read its memory
graders = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if b"run_otter.py" in open(f"/proc/{pid}/cmdline", "rb").read():
            graders.append(pid)
    except OSError:
        pass
report["graders seen"] = len(graders)
for path in [*(f"/proc/{pid}/{what}" for pid in graders for what in ("mem", "environ", "maps")),
             "../source/otter_config.json", "../results"]:
    try:
        with open(path, "rb") as f:
            f.read(100)
        report[path] = "read"
    except OSError as e:
        report[path] = type(e).__name__
for pid in graders:
    try:
        os.kill(int(pid), signal.SIGKILL)
        report[f"kill {pid}"] = "sent"
    except OSError as e:
        report[f"kill {pid}"] = type(e).__name__
print("ATTACK-REPORT " + json.dumps(report))
"""

SNOOP_SCRATCH = """\
# Local batch grading: read what other gradings leave in the folders every user may write, and leave something
import json, os, sys, uuid
seen, leftovers = [], []
for scratch in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
    for folder, dirs, files in os.walk(scratch):
        for name in dirs + files:  # each with its inode: the test tells the host's entries from its own namesakes
            info = os.lstat(os.path.join(folder, name))
            seen.append([os.path.join(folder, name), info.st_dev, info.st_ino])
        for name in files:
            try:
                with open(os.path.join(folder, name), "rb") as f:
                    if LEFTOVER_MARKER.encode() in f.read(10000):
                        leftovers.append(os.path.join(folder, name))
            except OSError:
                pass
left = f"/tmp/kit-left-by-a-notebook-{uuid.uuid4().hex}"
open(left, "w").write("for the next notebook")
own = [os.getcwd(), os.path.dirname(os.environ["HOME"]), sys.prefix, sys.base_prefix]
print("SCRATCH-REPORT " + json.dumps({"seen": seen[:5000], "leftovers": leftovers, "left": left, "own": own}))
"""

LEFTOVER_MARKER = "LEFTOVER-FROM-ANOTHER-GRADING"

SLOW_WHEN_EVALUATED = """\
import time
class SlowWhenEvaluated(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
    def forward(self, x):
        if not torch.is_grad_enabled():  # as the autograder evaluates it
            time.sleep(8)
        return self.inner(x)
just_right_regressor = SlowWhenEvaluated(just_right_regressor)
"""


class PickleBomb:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


CUSTOM_HONEST_REGRESSOR = """\
# A custom module of allowed layers, trained in float64, returning shape (N,): odd but honest.
torch.manual_seed(42)

class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(1, 32)
        self.act = nn.Tanh()
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        return self.out(self.act(self.hidden(x))).squeeze(-1)

just_right_regressor = Regressor().double()
x64, y64 = x_reg.double(), y_reg.double().reshape(-1)
optimizer = torch.optim.Adam(just_right_regressor.parameters(), lr=0.01)
for epoch in range(1000):
    optimizer.zero_grad()
    loss = ((just_right_regressor(x64) - y64) ** 2).mean()
    loss.backward()
    optimizer.step()
"""

TRUE_FUNCTION_MODULE = """\
torch.manual_seed(42)
from fcnn_lesson.data import regression_truth

class Oracle(nn.Module):
    def __init__(self):
        super().__init__()
        self.decoy = nn.Linear(1, 1)

    def forward(self, x):
        return regression_truth(x)

just_right_regressor = Oracle()
"""

CASES: dict[str, Case] = {
    "solutions": Case(lambda m: m.kit.solutions_notebook, FULL, FULL, {"q_regression": "Band: just right."}),
    "untouched": Case(
        lambda m: m.kit.student_dir / "fcnn.ipynb", NONE, NONE, {"q_regression": "is still the placeholder `...`"}
    ),
    "blank+otter-patch": Case(
        lambda m: m.write("blank+otter-patch", appended(m.student(), code(OTTER_PATCH))),
        NONE,
        NONE,
        {"q_classification": "is still the placeholder"},
    ),
    "blank+torch-numpy-patch": Case(
        lambda m: m.write("blank+torch-numpy-patch", appended(m.student(), code(TORCH_PATCH))),
        NONE,
        NONE,
        {"q_regression": "is still the placeholder"},
    ),
    "solutions+torch-numpy-patch": Case(
        lambda m: m.write("solutions+torch-numpy-patch", appended(m.solutions(), code(TORCH_PATCH))),
        FULL,
        FULL,
        {"q_regression": "Band: just right."},
    ),
    "prints-hidden-tests": Case(
        lambda m: m.write("prints-hidden-tests", appended(m.student(), code(SPY))),
        NONE,
        NONE,
    ),
    "forges-results-file": Case(
        lambda m: m.write("forges-results-file", appended(m.solutions(), code(FORGE_RESULTS))),
        FULL,
        FULL,
        {"general": "results/results.json"},  # its box has no results/ folder (without a box: not its to write)
    ),
    "attacks-log-server": Case(
        lambda m: m.write(
            "attacks-log-server", appended(m.solutions(), code(LOG_SERVER_ATTACK.replace("MARKER", repr(str(m.marker)))))
        ),
        FULL,
        FULL,
    ),
    "deletes-check-cells": Case(
        lambda m: m.write(
            "deletes-check-cells",
            _without(m.solutions(), lambda c: "grader.check" in c.source),
        ),
        FULL,
        FULL,
    ),
    "redefines-model-after-check": Case(
        lambda m: m.write(
            "redefines-model-after-check",
            after(
                m.solutions(),
                lambda c: 'grader.check("q_regression")' in c.source,
                code("just_right_regressor = nn.Sequential(nn.Linear(1, 1))  # swapped after the check"),
            ),
        ),
        NONE,
        FULL,
        {"q_regression": "has not been trained"},
    ),
    "function-and-lambda": Case(
        lambda m: m.write(
            "function-and-lambda",
            replace_answer(
                replace_answer(m.solutions(), regression_answer, "just_right_regressor = lambda x: 3 * torch.sin(x)"),
                classification_answer,
                "def just_right_classifier(x):\n    return torch.sigmoid(x[:, :1])",
            ),
        ),
        NONE,
        NONE,
        {"q_regression": "is a function, not a torch.nn.Module", "q_classification": "is a function"},
    ),
    "module-returning-true-function": Case(
        lambda m: m.write(
            "module-returning-true-function", replace_answer(m.solutions(), regression_answer, TRUE_FUNCTION_MODULE)
        ),
        NONE,
        FULL,
        {"q_regression": "does more than apply its layers"},
    ),
    "odd-but-honest-custom-float64-flat": Case(
        lambda m: m.write(
            "odd-but-honest-custom-float64-flat",
            replace_answer(m.solutions(), regression_answer, CUSTOM_HONEST_REGRESSOR),
        ),
        FULL,
        FULL,
        {"q_regression": "Band: just right."},
    ),
    "regressor-in-close-band": Case(
        lambda m: m.write(
            "regressor-in-close-band",
            replace_answer(m.solutions(), regression_answer, (SUBMISSIONS / "close_regressor.py").read_text()),
        ),
        CLOSE,
        FULL,
        {"q_regression": "Band: close."},
    ),
    "nan-weights": Case(
        lambda m: m.write(
            "nan-weights",
            after(
                m.solutions(),
                regression_answer,
                code("with torch.no_grad():\n    just_right_regressor[0].weight.fill_(float('nan'))"),
            ),
        ),
        NONE,
        FULL,
        {"q_regression": "NaN"},
    ),
    "broken-cells": Case(  # a cell that raises, then one that does not even parse: both reported, the rest graded
        lambda m: m.write("broken-cells", _insert(_insert(m.solutions(), 10, code("1 / 0")), 11, code("def broken(:\n    pass"))),
        FULL,
        FULL,
        {"general": ("Cell 11 (`1 / 0`) raised ZeroDivisionError", "Cell 12 (`def broken(:`) raised SyntaxError")},
    ),
    "infinite-loop-between-exercises": Case(
        lambda m: m.write(
            "infinite-loop-between-exercises",
            # a hang that sleeps: it burns no core the other gradings of the test run need
            after(m.solutions(), regression_answer, code("import time\nwhile True:\n    time.sleep(1)")),
        ),
        FULL,
        NONE,
        {"general": "time limit ran out", "q_classification": "`just_right_classifier` is not defined"},
        short_time_limit=True,
    ),
    "allocations": Case(
        lambda m: m.write(
            "allocations",
            # 2 GB untouched (the machine would give it), then 4 GB written (the machine has it to give): only the
            # kernel's cap (1.5 GB of address space) refuses them
            appended(
                _insert(m.solutions(), 10, code("big = torch.empty(2 * 2**30, dtype=torch.uint8)")),
                code(f"{HEAVY_CELL}\nfor _ in range(80):\n    blocks.append(bytearray(50 * 2**20))"),
            ),
        ),
        FULL,
        FULL,
        {"general": ("can't allocate memory", "raised MemoryError")},
    ),
    "not-a-notebook": Case(
        lambda m: m.write_bytes("not-a-notebook", "fcnn.ipynb", b"%PDF-1.4 this is a PDF, not a notebook"),
        NONE,
        NONE,
        {"general": "could not grade this submission"},
        graded=False,
    ),
    "corrupt-json": Case(
        lambda m: m.write_bytes(
            "corrupt-json", "fcnn.ipynb", m.kit.solutions_notebook.read_bytes()[:-200]
        ),
        NONE,
        NONE,
        {"general": "could not grade this submission"},
        graded=False,
    ),
    "zip-with-two-notebooks": Case(
        lambda m: m.zip(
            "zip-with-two-notebooks",
            {"fcnn.ipynb": m.kit.solutions_notebook.read_bytes(), "copy.ipynb": m.kit.solutions_notebook.read_bytes()},
        ),
        NONE,
        NONE,
        {"general": "More than one .ipynb file"},
        graded=False,
    ),
    "escapes-the-sandbox": Case(  # a write into the grader's code that raises, then every escape ESCAPE tries
        lambda m: m.write(
            "escapes-the-sandbox",
            appended(
                appended(
                    m.solutions(),
                    code('open("../source/files/fcnn_lesson/grading.py", "a").write("\\nassess_regressor = lambda *a: None\\n")'),
                ),
                code(ESCAPE),
            ),
        ),
        FULL,
        FULL,
        {"general": "raised FileNotFoundError"},  # the grader's files are not in the kernel's box
    ),
    "spies-and-kills-the-grader": Case(
        lambda m: m.write(
            "spies-and-kills-the-grader",
            appended(
                appended(m.solutions(), code(SPY_AND_KILL)),
                code(f"LEFTOVER_MARKER = {LEFTOVER_MARKER!r}\n" + SNOOP_SCRATCH),
            ),
        ),
        FULL,
        FULL,
    ),
    "kernel-dies": Case(
        lambda m: m.write(
            "kernel-dies", after(m.solutions(), regression_answer, code("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"))
        ),
        FULL,
        NONE,
        {"general": "The Python kernel died while running cell", "q_classification": "`just_right_classifier` is not defined"},
    ),
    "ignores-the-interrupt": Case(
        lambda m: m.write(
            "ignores-the-interrupt",
            after(
                m.solutions(),
                regression_answer,
                code("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(1)"),
            ),
        ),
        FULL,
        NONE,
        {"general": "time limit ran out"},
        short_time_limit=True,
    ),
    "slow-evaluation-everywhere": Case(
        lambda m: m.write(
            "slow-evaluation-everywhere",
            # evaluating the graded network (what the autograder's description does) sleeps, and 26 cells mention
            # it: each added description cell counts against the notebook's budget, the last gets its grace
            appended(m.solutions(), code(SLOW_WHEN_EVALUATED), *[code(f"just_right_regressor  # mention {i}") for i in range(26)]),
        ),
        FULL,
        FULL,
        {"general": "time limit ran out"},
        short_time_limit=True,
    ),
    "over-the-epoch-budget": Case(
        lambda m: m.write(
            "over-the-epoch-budget",
            # as if the cell had trained for 60,000 epochs (the training helpers record them on the model)
            after(m.solutions(), regression_answer, code("just_right_regressor.trained_epochs = 60_000")),
        ),
        NONE,
        FULL,
        {"q_regression": "the exercise allows at most 50,000"},
    ),
    "graded-variable-renamed": Case(
        lambda m: m.write("graded-variable-renamed", _renamed(m.solutions(), "just_right_regressor", "my_regressor")),
        NONE,
        FULL,
        {"q_regression": "`just_right_regressor` is not defined"},
    ),
    "zip-with-crafted-otter-log": Case(
        lambda m: m.zip(
            "zip-with-crafted-otter-log",
            {"fcnn.ipynb": m.kit.solutions_notebook.read_bytes(), ".OTTER_LOG": pickle.dumps(PickleBomb(str(m.marker)))},
        ),
        FULL,
        FULL,
    ),
}


SELECTED = [c for c in os.environ.get("KIT_CORPUS_CASES", "").split(",") if c]
"""``make sabotage`` grades only the cases a sabotage needs (all of them when unset)."""
if SELECTED:
    CASES = {case_id: CASES[case_id] for case_id in SELECTED}


def needs(graded: dict, case_id: str):
    """The graded case, or skip the test when a partial run (``KIT_CORPUS_CASES``) left it out."""
    if case_id not in graded:
        pytest.skip(f"{case_id} not graded in this run")
    return graded[case_id]


def _without(nb, predicate) -> nbformat.NotebookNode:
    nb.cells = [c for c in nb.cells if not predicate(c)]
    return nb


def _insert(nb, index: int, cell) -> nbformat.NotebookNode:
    nb.cells.insert(index, cell)
    return nb


def _renamed(nb, old: str, new: str) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = cell.source.replace(old, new)
    return nb


@pytest.fixture(scope="session")
def short_limit_zip(kit, tmp_path_factory) -> pathlib.Path:
    """The built zip with only the assignment's time limit lowered (its ``exercises.py`` in the zip)."""
    return with_time_limit(kit.autograder_zip, tmp_path_factory.mktemp("short-limit") / "autograder.zip", SHORT_TIME_LIMIT_S)


@pytest.fixture(scope="session")
def corpus(kit, grade, short_limit_zip, tmp_path_factory) -> tuple[Maker, dict]:
    """Every case graded once (three at a time), with how long each grading took."""
    maker = Maker(kit, tmp_path_factory.mktemp("corpus"))
    # what another grading on this machine might have left where every user may read it
    leftover = pathlib.Path(tempfile.mkdtemp(prefix="kit-leftover-"))
    leftover.chmod(0o755)
    (leftover / "kernel-output").write_text(LEFTOVER_MARKER)
    (leftover / "kernel-output").chmod(0o644)
    maker.host_tmp = {str(path) for path in pathlib.Path("/tmp").iterdir()}  # what another grading's kernel would see
    submissions = {case_id: case.make(maker) for case_id, case in CASES.items()}
    started = time.monotonic()
    # the short-limit cases first, and a third grading at a time: those two sleep until their time limit, and the
    # others keep the cores busy meanwhile
    order = sorted(CASES, key=lambda cid: not CASES[cid].short_time_limit)
    with ThreadPoolExecutor(max_workers=3) as pool:
        zips = [short_limit_zip if CASES[cid].short_time_limit else kit.autograder_zip for cid in order]
        graded = dict(zip(order, pool.map(grade, [submissions[cid] for cid in order], zips)))
    print(f"\ncorpus: {len(CASES)} submissions graded in {time.monotonic() - started:.0f} s (pytest -s shows this)")
    for cid, result in graded.items():
        scores = {t["name"]: t.get("score") for t in result.results["tests"] if t["name"].startswith("q_")}
        print(f"  {cid:40s} {scores or result.results.get('score')!s:50s} {result.seconds:5.1f} s")
    shutil.rmtree(leftover)
    return maker, graded


@pytest.mark.parametrize("case_id", list(CASES))
def test_corpus_case_gets_what_its_honest_work_earns(case_id, corpus):
    maker, graded = corpus
    case, result = CASES[case_id], graded[case_id]
    scores = {t["name"]: t.get("score") for t in result.results["tests"]}
    expected = {"q_regression": case.regression, "q_classification": case.classification}
    if not case.graded:
        assert result.results.get("score") == 0, result.results
    else:
        # the grader's log too: what the kernel printed when something outside the notebook went wrong
        assert {q: scores.get(q) for q in expected} == expected, "\n".join((result.general_output, json.dumps(scores), result.log[-4000:]))
    for where, gists in case.says.items():
        text = result.general_output if where == "general" else result.output(where)
        if where == "general" and not text:  # otter's own errors are reported as a test named for them
            text = "\n".join(t.get("output", "") for t in result.results["tests"])
        for gist in (gists,) if isinstance(gists, str) else gists:  # several attacks in one notebook: each is reported
            assert gist in text, f"{gist!r} not in {where} output:\n{text}"


def test_the_added_description_cells_stay_inside_the_notebooks_budget(corpus):
    """They count against it, and only the last runs after it, with its grace: 26 slow ones used to add 30 s each."""
    _, graded = corpus
    result = needs(graded, "slow-evaluation-everywhere")
    assert result.seconds < SHORT_TIME_LIMIT_S + EXPORT_GRACE_S + 60, result.seconds  # start-up, imports, assessment
    cells = result._pickled().notebook.cells
    skipped = [i for i, c in enumerate(cells) if any("[autograder] not run" in o.get("text", "") for o in c.get("outputs", []))]
    assert skipped, "nothing was skipped: the budget never ran out"
    after = [c for c in cells[skipped[0] :] if c.metadata.get(EXPORT_KEY)]
    assert len(after) > 1 and after[-1].metadata[EXPORT_KEY] == LAST_EXPORT
    assert all(c in [cells[i] for i in skipped] for c in after[:-1]), "a description cell ran after the budget ran out"
    # the last one runs after the budget, with its grace, to its end: not interrupted like the cell before it
    assert not [o for o in after[-1].get("outputs", []) if o.get("output_type") == "error"], after[-1].outputs


def test_nothing_secret_is_readable_from_the_notebook(corpus, heldout_seeds):
    _, graded = corpus
    seen = _printed(needs(graded, "prints-hidden-tests"), "SPY-REPORT ")
    if os.geteuid() == 0:  # the kernel user cannot even open the autograder's source/
        assert seen and not [path for path in seen if path.startswith("../source")]
    else:  # it can, but the seeds were removed from the configuration before the kernel started
        (config,) = [text for path, text in seen.items() if path.endswith("otter_config.json")]  # it looked
        assert "heldout_seed" not in config and "grading_engine.otter_plugins.HeldOutGrading" in config
    assert heldout_seeds and not [seed for seed in heldout_seeds if seed in json.dumps(seen)]


def test_no_submitted_pickle_is_ever_unpickled(corpus):
    maker, graded = corpus
    if "attacks-log-server" in graded:  # the bombs were really sent, or the box kept the log server out of reach
        report = _attack_report(graded["attacks-log-server"])
        assert report["bombs sent"] + report["refused"] >= 1
    assert not maker.marker.exists()


def test_a_forged_results_file_is_replaced_and_stays_replaced(corpus):
    _, graded = corpus
    time.sleep(4)  # longer than the forger's background process waits
    forged = needs(graded, "forges-results-file")
    final = json.loads(forged.results_path.read_text())
    assert final == forged.results and final.get("score") != 100
    # the background processes are dead, not just counted: the heartbeat stopped when grading ended
    heartbeat = forged.results_path.parent.parent / "submission" / "heartbeat"
    assert heartbeat.read_text(), "the background process never ran"
    beat = heartbeat.read_text()
    time.sleep(1)
    assert heartbeat.read_text() == beat


CHECK_MAY_DIFFER = {"redefines-model-after-check": "q_regression"}
"""Cases where the notebook's check rightly said something else, and for which question: it checked another object."""
NO_CHECK_RUNS = {
    "deletes-check-cells": "it deleted its check cells",
    "infinite-loop-between-exercises": "the regression check comes after the loop, the classification one too",
    "kernel-dies": "the kernel dies before the regression check",
    "ignores-the-interrupt": "the loop it will not leave comes before the regression check",
}
"""Cases in which no check cell runs in the grading kernel, and why: declared, and asserted, rather than skipped."""


@pytest.mark.parametrize("case_id", [cid for cid, case in CASES.items() if case.graded])
def test_notebook_check_says_what_the_autograder_says(case_id, corpus):
    _, graded = corpus
    result = graded[case_id]
    said = {q: result.notebook_check_passed(q) for q in ("q_regression", "q_classification")}
    if case_id in NO_CHECK_RUNS:
        assert set(said.values()) == {None}, f"a check cell ran, though {NO_CHECK_RUNS[case_id]}: {said}"
        return
    ran = {q: passed for q, passed in said.items() if passed is not None}
    assert ran, f"no check cell ran: declare the case in NO_CHECK_RUNS if that is what it does ({said})"
    for question, passed in ran.items():
        if CHECK_MAY_DIFFER.get(case_id) == question:  # the check passed the model the notebook then replaced
            assert passed and not result.public_test_passed(question)
        else:
            assert passed == result.public_test_passed(question), f"{question}: the notebook's check said {passed}"


REFUSED = ("PermissionError", "FileNotFoundError", "OSError")
"""What an attempt outside the kernel's rights gives: not its to touch, not in its box, or read-only there (EROFS)."""


def _printed(result, marker: str) -> dict:
    """The JSON an attack cell printed after ``marker``: proof that it ran, and what each attempt gave."""
    text = "".join(
        out.get("text", "")
        for cell in result._pickled().notebook.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )
    assert marker in text, f"the attack cell never reported ({marker.strip()}): it did not run"
    return json.loads(text.split(marker, 1)[1].splitlines()[0])


def _attack_report(result) -> dict:
    return _printed(result, "ATTACK-REPORT ")


@pytest.mark.skipif(os.geteuid() != 0, reason="the kernel's rights drop only where grading runs as root")
def test_the_kernel_cannot_write_what_the_grader_reads_nor_regain_root(corpus):
    import otter
    import torch

    _, graded = corpus
    report = _attack_report(needs(graded, "escapes-the-sandbox"))
    assert report.pop("uid") != 0
    assert report.pop("su") != 0  # (any uid but root's fails here; the next two are what keep it so)
    assert report.pop("no_new_privs") == "1" and int(report.pop("bounding_set"), 16) == 0
    assert report.pop("disk") == "OSError"  # the kernel's largest file is capped (File too large)
    assert report and all(outcome in REFUSED for outcome in report.values()), report
    for path in (otter.__file__, torch.__file__, os.__file__):
        assert path in report  # the attack looked for the very files this process imports


@pytest.mark.skipif(os.geteuid() != 0, reason="the kernel's rights drop only where grading runs as root")
def test_the_kernel_cannot_read_or_signal_the_grader(corpus, heldout_seeds):
    _, graded = corpus
    result = needs(graded, "spies-and-kills-the-grader")
    report = _attack_report(result)
    assert report.pop("uid") != 0
    assert report.pop("groups") == [] and report.pop("no_new_privs") == "1"
    assert report.pop("dumpable") == 0  # where two kernels share a user (no box), neither can read the other's memory
    assert report.pop("graders seen") == 0  # its box shows its own processes only (without one: refused below)
    assert report and all(outcome in REFUSED for outcome in report.values()), report
    assert not [seed for seed in heldout_seeds if seed in json.dumps(report)]
    assert result.results_path.exists()  # the grader lived to write it


@pytest.mark.skipif(os.geteuid() != 0, reason="the kernel's rights drop only where grading runs as root")
def test_a_notebook_sees_nothing_another_grading_left_or_leaves_anything_behind(corpus):
    maker, graded = corpus
    report = _printed(needs(graded, "spies-and-kills-the-grader"), "SCRATCH-REPORT ")
    assert not report["leftovers"]  # the file planted in /tmp for it, world-readable
    own = [pathlib.Path(p) for p in report["own"]]

    def its_own(path: pathlib.Path) -> bool:  # on the way to, or inside, the folders this grading gave it
        return path == pathlib.Path(report["left"]) or any(path in (p, *p.parents) or p in path.parents for p in own)

    def on_host(path: str, dev: int, ino: int) -> bool:
        try:
            info = os.lstat(path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == (dev, ino)

    strangers = [p for p, dev, ino in report["seen"] if p in maker.host_tmp and on_host(p, dev, ino) and not its_own(pathlib.Path(p))]
    assert not strangers, strangers[:20]  # the planted folder among them, with or without the file's content
    assert not pathlib.Path(report["left"]).exists()  # what it wrote in /tmp went with its kernel
    assert not pathlib.Path(report["own"][1]).exists()  # the grading's folder (its home, its networks) went too
