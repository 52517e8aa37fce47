"""Import named modules lazily: loaded on first use instead of when they are imported.

Otter imports pandas at import time (``otter.run.run_autograder``) but only uses it to print its
summary table after grading, and the notebook's kernel (whose first cell imports otter) never uses
it, nor nbconvert. Deferring them keeps grading well under its 500 MB target (issue #5): with both
processes loading them at import, grading the solutions peaked at 502 MB; deferred, at 431 MB.

This module uses only the standard library, and its source is also run as the grading kernel's
start-up file (``LeanKernel``), so keep it that way.
"""

import importlib.abc
import importlib.util
import sys

# What a deferred module tells about itself without loading. Code that walks sys.modules asks for
# these: torch asks each module for its __file__ and, through isinstance, its __class__ each time it
# registers an operator (inspect.getmodule), and importing a module again reads its __spec__.
# Anything else loads the module.
_ANSWERED_UNLOADED = frozenset(
    {"__class__", "__name__", "__file__", "__spec__", "__loader__", "__package__", "__cached__"}
)


class _DeferredModule(importlib.util._LazyModule):  # private (there since Python 3.5); tests fail if it changes
    def __getattribute__(self, attr):
        if attr in _ANSWERED_UNLOADED:
            return object.__getattribute__(self, attr)
        return super().__getattribute__(attr)


class _DeferringLoader(importlib.util.LazyLoader):
    def exec_module(self, module):
        super().exec_module(module)
        module.__class__ = _DeferredModule


class _DeferredImports(importlib.abc.MetaPathFinder):
    """Finds the named modules with the other finders, then defers running them."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _DeferringLoader(spec.loader)
                return spec
        return None


def defer_imports(*names: str) -> None:
    """Make ``import name`` cheap for each of ``names``: the module runs on its first attribute access.

    Code that uses the module notices nothing, except that its import cost moves to that first use
    (and any error in it too). Modules imported before this call are not affected.
    """
    sys.meta_path.insert(0, _DeferredImports(names))
