"""``make sabotage``'s list stays true to the code: each sabotage's text is where it says, once.

The sabotages themselves take half an hour (``make sabotage``); this checks in a moment that none has gone stale,
as one did when the epoch-budget check moved from a lesson's package into the engine.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys


def _sabotage_list():
    """``tests/sabotage.py``, loaded as a module (it is a script, not a package's)."""
    spec = importlib.util.spec_from_file_location("kit_sabotage", pathlib.Path(__file__).parent / "sabotage.py")
    sabotage = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))  # dataclasses look it up
    spec.loader.exec_module(sabotage)
    return sabotage


def test_every_sabotage_still_applies_to_the_code():
    sabotage = _sabotage_list()
    assert sabotage.SABOTAGES and not sabotage.stale(sabotage.SABOTAGES)


def test_every_sabotage_names_tests_that_exist():
    """A renamed test would make pytest exit with a usage error, which the run would not count as caught; caught here
    in a moment instead."""
    sabotage = _sabotage_list()
    repo = pathlib.Path(__file__).parent.parent
    missing = []
    for entry in sabotage.SABOTAGES:
        for test in entry.tests:
            path, _, name = test.partition("::")
            if not (repo / path).is_file() or (name and f"def {name.split('[')[0]}(" not in (repo / path).read_text()):
                missing.append(f"{entry.name}: {test}")
    assert not missing, "\n".join(missing)
