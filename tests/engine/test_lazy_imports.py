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
