"""``LeanKernel``: the grading kernel starts lean (no IRI grammar; pandas, nbconvert and torch's compiler on use)."""

from __future__ import annotations

import pathlib

from otter.plugins import AbstractOtterPlugin

from .. import lazy_imports
from ..safeguards import installed_grading

# Runs in the grading kernel before any cell, in a function so that the notebook's namespace stays
# clean. jsonschema (imported by otter through nbformat) imports rfc3987_syntax when it is installed,
# and that module builds an Earley parser for IRIs at import: 3.6 s of every grading, for a format
# check that grading never uses. pandas and nbconvert come in with otter, which uses them in the
# kernel only to export (a student's PDF, not graded here): deferred, the kernel peaks at 366 MB
# instead of 399. torch's compiler comes in with a network's first optimizer, which needs two of its
# names only while nothing compiles (lazy_imports.defer_torch_compiler): 1.9 s of every grading.
_LEAN_STARTUP = """\
def _lean_kernel():  # see grading_engine/otter_plugins/lean_kernel.py
    import sys
    sys.modules.setdefault("rfc3987_syntax", None)
    lazy_imports = {{"__name__": "grading_engine.lazy_imports"}}
    exec({lazy_imports_source!r}, lazy_imports)
    lazy_imports["defer_imports"]("pandas", "nbconvert")
    lazy_imports["defer_torch_compiler"]()
_lean_kernel()
del _lean_kernel
"""


class LeanKernel(AbstractOtterPlugin):
    """Start the grading kernel lean: one torch thread, figures not rendered, no IRI grammar, pandas,
    nbconvert and torch's compiler only if used.

    Grading budgets are small (Gradescope's default is half a vCPU). The one thread and the figures that are not drawn
    are the box's kernel environment (``sandbox.KERNEL_ENV``); this plugin adds the lean start-up.
    """

    def before_grading(self, config) -> None:
        sandbox = installed_grading().sandbox
        if sandbox is not None:
            sandbox.add_startup("00-lean-kernel.py", lean_startup())


def lean_startup() -> str:
    """The kernel's lean start-up file (the kernel may not find the engine before the notebook's first cell, so it
    gets the source)."""
    return _LEAN_STARTUP.format(lazy_imports_source=pathlib.Path(lazy_imports.__file__).read_text())
