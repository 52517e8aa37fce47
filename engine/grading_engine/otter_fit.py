"""Fail closed: never grade with a guard that no longer holds, nor with software the zip does not pin.

The guards (``safeguards.py``) replace attributes of otter-grader and the packages it runs notebooks with; they were
written against the exact versions the assignments pin. The grading image is built from the zip's own environment,
so :func:`check_otter_fits` compares what is installed with what the zip pins, before anything is graded.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import pathlib
import pickle
import re
import types

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

    import nbconvert.preprocessors
    import otter
    import otter.execute
    import otter.execute.logging as otter_logging
    from nbconvert.preprocessors.execute import ExecutePreprocessor  # the class itself, whatever is installed over it

    from .safeguards import KernelResultsIgnored

    problems = []
    if otter.__version__ != EXPECTED_OTTER_VERSION:
        problems.append(f"otter-grader is {otter.__version__}, the kit's guards were written for {EXPECTED_OTTER_VERSION}")
    for package in GUARDED_PACKAGES if pins is not None else ():
        installed = importlib.metadata.version(package)
        if pins.get(normal_name(package)) is None:
            problems.append(f"the autograder's requirements.txt does not pin {package} (installed: {installed})")
        elif installed.split("+")[0] != pins[normal_name(package)]:
            problems.append(f"{package} is {installed}, the autograder's requirements.txt pins {pins[normal_name(package)]}")
    if getattr(otter.execute, "pickle", None) not in (pickle, KernelResultsIgnored):
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
