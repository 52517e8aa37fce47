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
if sys.argv[1] == "deferred":
    from grading_engine.lazy_imports import defer_torch_compiler
    defer_torch_compiler()
import torch
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
x, y = torch.randn(64, 2), torch.randn(64, 1)
for _ in range(20):
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()
print("LOADED-AFTER-TRAINING", "torch._dynamo.convert_frame" in sys.modules)
print("WEIGHTS", [p.detach().flatten().tolist() for p in model.parameters()])
compiled = torch.compile(model, backend="eager")  # the notebook asks for the compiler: the real one
optimizer.zero_grad()
torch.nn.functional.mse_loss(compiled(x), y).backward()
optimizer.step()
print("LOADED-AFTER-COMPILE", type(sys.modules["torch._dynamo"]).__name__, "torch._dynamo.convert_frame" in sys.modules)
"""


def test_torchs_compiler_loads_only_when_a_notebook_compiles_and_training_is_unchanged():
    """Deferred, an optimizer trains to the same weights without loading torch._dynamo; torch.compile still works."""
    import subprocess

    def run(mode: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", TRAIN_THEN_COMPILE, mode], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.splitlines()

    deferred, eager = run("deferred"), run("eager")
    assert deferred[0] == "LOADED-AFTER-TRAINING False" and eager[0] == "LOADED-AFTER-TRAINING True"
    assert deferred[1] == eager[1]  # the same weights, bit for bit
    assert deferred[2] == eager[2] == "LOADED-AFTER-COMPILE module True"
