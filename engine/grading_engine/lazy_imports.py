"""Import named modules lazily: loaded on first use instead of when they are imported.

Otter imports pandas at import time (``otter.run.run_autograder``) but only uses it to print its
summary table after grading, and the notebook's kernel (whose first cell imports otter) never uses
it, nor nbconvert. Deferring them keeps grading well under its 500 MB target (issue #5): with both
processes loading them at import, grading the solutions peaked at 502 MB; deferred, at 431 MB.

The grading kernel also defers torch's compiler (:func:`defer_torch_compiler`): a network's first optimizer
imports it (1.9 s of every grading) only to switch compiling off around its own code, and nothing compiles
unless the notebook asks for it.

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
    def __init__(self, loader, deferred_class):
        super().__init__(loader)
        self.deferred_class = deferred_class

    def exec_module(self, module):
        super().exec_module(module)
        module.__class__ = self.deferred_class


class _DeferredImports(importlib.abc.MetaPathFinder):
    """Finds the named modules with the other finders, then defers running them."""

    def __init__(self, names, deferred_class=_DeferredModule):
        self.names = frozenset(names)
        self.deferred_class = deferred_class

    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _DeferringLoader(spec.loader, self.deferred_class)
                return spec
        return None


def defer_imports(*names: str) -> None:
    """Make ``import name`` cheap for each of ``names``: the module runs on its first attribute access.

    Code that uses the module notices nothing, except that its import cost moves to that first use
    (and any error in it too). Modules imported before this call are not affected.
    """
    sys.meta_path.insert(0, _DeferredImports(names))


def _compiler_loaded() -> bool:
    return type(sys.modules.get("torch._dynamo")) not in (_DeferredCompiler, type(None))


def _no_graph_break() -> None:
    """``torch._dynamo.graph_break`` while the compiler is not loaded: nothing is being compiled to break."""


def _disable_once_loaded(fn=None, *args, **kwargs):
    """``torch._dynamo.disable`` while the compiler is not loaded: ``fn`` runs as it is, as nothing can be
    compiling it; once a notebook loads the compiler (``torch.compile``), the real ``disable`` wraps it."""
    if fn is None or _compiler_loaded():
        return sys.modules["torch._dynamo"].disable(fn, *args, **kwargs)
    disabled = None

    def call(*call_args, **call_kwargs):
        nonlocal disabled
        if not _compiler_loaded():
            return fn(*call_args, **call_kwargs)
        if disabled is None:
            disabled = sys.modules["torch._dynamo"].disable(fn, *args, **kwargs)
        return disabled(*call_args, **call_kwargs)

    return call


class _DeferredCompiler(_DeferredModule):
    """``torch._dynamo`` not yet loaded: answers the two names eager training uses without loading it."""

    def __getattribute__(self, attr):
        if attr == "graph_break":
            return _no_graph_break
        if attr == "disable":
            return _disable_once_loaded
        return super().__getattribute__(attr)


def defer_torch_compiler() -> None:
    """Load torch's compiler (``torch._dynamo``) only when code compiles, not when an optimizer is made.

    torch's optimizers import it to call ``graph_break()`` and ``disable(fn)``, which do nothing while
    nothing is compiled; those two are answered without loading it. Any other use (``torch.compile``,
    ``torch._dynamo.config``) loads the real module, and from then on both are the real ones.
    """
    sys.meta_path.insert(0, _DeferredImports(["torch._dynamo"], _DeferredCompiler))
