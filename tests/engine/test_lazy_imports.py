"""grading_engine.lazy_imports: a deferred module runs on first use, and not before."""

import sys

import pytest

from grading_engine.lazy_imports import defer_imports


@pytest.fixture
def probe_module(tmp_path, monkeypatch):
    """A module named ``deferred_probe`` that records in ``sys`` each time it runs."""
    (tmp_path / "deferred_probe.py").write_text("import sys\nsys.deferred_probe_runs += 1\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # the finder is gone after the test
    monkeypatch.setattr(sys, "deferred_probe_runs", 0, raising=False)
    monkeypatch.delitem(sys.modules, "deferred_probe", raising=False)
    yield "deferred_probe"
    sys.modules.pop("deferred_probe", None)


def test_a_deferred_module_runs_on_first_use_only(probe_module):
    import inspect

    defer_imports(probe_module)
    import deferred_probe

    # what code that walks sys.modules asks (torch does, through inspect) does not run it
    assert deferred_probe.__name__ == probe_module and deferred_probe.__file__.endswith("deferred_probe.py")
    assert inspect.ismodule(deferred_probe) and not inspect.isclass(deferred_probe)
    assert inspect.getmodule(sys._getframe().f_code) is sys.modules[__name__]  # reads every module's __file__
    import deferred_probe  # noqa: F811  (a second import reads __spec__)

    assert sys.deferred_probe_runs == 0
    assert deferred_probe.VALUE == 42
    assert sys.deferred_probe_runs == 1
    assert deferred_probe.VALUE == 42 and sys.deferred_probe_runs == 1


def test_other_modules_import_as_usual(probe_module):
    defer_imports("some_other_module")
    import deferred_probe

    assert sys.deferred_probe_runs == 1 and deferred_probe.VALUE == 42


TRAIN_THEN_COMPILE = """\
import sys
from grading_engine.lazy_imports import defer_torch_compiler
defer_torch_compiler()
import torch
print("WEIGHTS", train())
print("LOADED-AFTER-TRAINING", "torch._dynamo.convert_frame" in sys.modules)
compiled = torch.compile(MODEL, backend="eager")  # the notebook asks for the compiler: the real one
OPTIMIZER.zero_grad()
torch.nn.functional.mse_loss(compiled(X), Y).backward()
OPTIMIZER.step()
print("LOADED-AFTER-COMPILE", type(sys.modules["torch._dynamo"]).__name__, "torch._dynamo.convert_frame" in sys.modules)
"""

TRAIN = """\
import torch
torch.set_num_threads(1)
torch.manual_seed(0)
MODEL = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
OPTIMIZER = torch.optim.Adam(MODEL.parameters(), lr=0.01)
X, Y = torch.randn(64, 2), torch.randn(64, 1)

def train():
    for _ in range(20):
        OPTIMIZER.zero_grad()
        torch.nn.functional.mse_loss(MODEL(X), Y).backward()
        OPTIMIZER.step()
    return [p.detach().flatten().tolist() for p in MODEL.parameters()]
"""


def test_torchs_compiler_loads_only_when_a_notebook_compiles_and_training_is_unchanged():
    """Deferred, an optimizer trains to the same weights without loading torch._dynamo; torch.compile still works."""
    import subprocess

    script = TRAIN_THEN_COMPILE.replace("import torch\n", TRAIN, 1)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    weights, trained, compiled = done.stdout.splitlines()
    assert trained == "LOADED-AFTER-TRAINING False"  # (this test's own process, not deferred, has it loaded)
    assert compiled == "LOADED-AFTER-COMPILE module True"
    here: dict = {}
    exec(TRAIN, here)
    assert weights == f"WEIGHTS {here['train']()}"  # the same weights as undeferred training, bit for bit
