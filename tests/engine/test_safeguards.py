"""The guards fail closed: an otter or nbconvert that no longer fits them stops grading with a message."""

from __future__ import annotations

import json
import pathlib
import zipfile

import pytest

from grading_engine.otter_fit import EXPECTED_OTTER_VERSION, SafeguardError, check_otter_fits


def test_the_pinned_otter_fits_the_guards():
    import otter

    assert otter.__version__ == EXPECTED_OTTER_VERSION
    requirements = (pathlib.Path(__file__).parents[2] / "requirements.txt").read_text()
    assert f"otter-grader=={EXPECTED_OTTER_VERSION}" in requirements
    check_otter_fits()


@pytest.mark.parametrize(
    "module, attribute, value, message",
    [
        ("otter", "__version__", "7.1.0", "otter-grader is 7.1.0"),
        ("otter.execute", "pickle", None, "results with pickle"),
        ("otter.execute.logging", "pickle", None, "log records with pickle"),
        ("nbconvert.preprocessors", "ExecutePreprocessor", object, "not nbconvert's executor"),
    ],
)
def test_a_changed_otter_stops_grading(monkeypatch, module, attribute, value, message):
    import importlib

    monkeypatch.setattr(importlib.import_module(module), attribute, value)
    with pytest.raises(SafeguardError, match=message):
        check_otter_fits()


def test_the_packages_the_guards_rely_on_must_be_installed_as_the_zip_pins_them(tmp_path):
    from grading_engine.otter_fit import GUARDED_PACKAGES, read_pins

    requirements = pathlib.Path(__file__).parents[2] / "requirements.txt"  # what this environment was installed from
    pins = read_pins(requirements)
    check_otter_fits(pins)  # the zip's own pins fit this environment
    for package in GUARDED_PACKAGES:
        moved = {**pins, package.replace("_", "-"): "0.0.1"}
        with pytest.raises(SafeguardError, match=f"{package} is .*pins 0.0.1"):
            check_otter_fits(moved)
        unpinned = {name: version for name, version in pins.items() if name != package.replace("_", "-")}
        with pytest.raises(SafeguardError, match=f"does not pin {package}"):
            check_otter_fits(unpinned)


@pytest.mark.parametrize(
    "member, old, new",
    [
        ("files/engine/grading_engine/otter_fit.py", f'EXPECTED_OTTER_VERSION = "{EXPECTED_OTTER_VERSION}"', 'EXPECTED_OTTER_VERSION = "0.0.1"'),
        ("environment.yml", "nbclient==", "nbclient==0.0.1  # was "),  # the image would install another nbclient
    ],
    ids=["another-otter", "another-nbclient"],
)
def test_a_zip_whose_guards_do_not_fit_grades_nothing_and_says_so(member, old, new, engine_kit, engine_grade, tmp_path):
    """End to end: the grader's own safeguards expect another otter, or the zip pins another version of a package
    they rely on than the one installed; results.json says so, score 0."""
    changed = tmp_path / "autograder.zip"
    with zipfile.ZipFile(engine_kit.autograder_zip) as src, zipfile.ZipFile(changed, "w") as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == member:
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode())
            out.writestr(item, data)
    graded = engine_grade(engine_kit.solutions_notebook, changed)
    assert graded.results["score"] == 0
    assert "safeguards do not fit" in graded.general_output and "0.0.1" in graded.general_output


def test_the_plugins_settings_leave_the_config_on_disk(tmp_path):
    """The seeds stay readable only to the grader: otter has read the configuration before the kernel starts."""
    from grading_engine.otter_plugins import GuardedGrading

    config = tmp_path / "otter_config.json"
    config.write_text('{"seed": 42, "plugins": ["a.B", {"c.D": {"questions": {"q": {"heldout_seed": 123456}}}}]}')
    GuardedGrading._redact_config(config)
    assert config.read_text() == '{"seed": 42, "plugins": ["a.B", "c.D"]}'


def test_what_the_kernel_wrote_is_read_without_links_and_within_a_size(tmp_path):
    from grading_engine.sandbox import read_kernel_file

    secret, written, link = tmp_path / "secret.json", tmp_path / "written.json", tmp_path / "link.json"
    secret.write_text('{"heldout_seed": 1}')
    written.write_text('{"a": 1}')
    link.symlink_to(secret)
    assert read_kernel_file(written, 100) == b'{"a": 1}'
    assert read_kernel_file(link, 100) is None  # a link the kernel swapped in is never followed
    assert read_kernel_file(written, 3) is None  # nor is a file larger than the cap read
    assert read_kernel_file(tmp_path / "missing.json", 100) is None


KERNEL_THAT_DIES_ONCE = """\
import os
if not os.path.exists(os.environ["KIT_TEST_MARKER"]):  # the first kernel only: it is gone before it answers
    open(os.environ["KIT_TEST_MARKER"], "w").close()
    os._exit(1)
"""

RUN_ONE_CELL = """\
import nbformat, sys
from grading_engine.safeguards import GuardedExecutePreprocessor
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
GuardedExecutePreprocessor(kernel_name="python3").preprocess(nb, {"metadata": {"path": sys.argv[1]}})
print("OUTPUT", nb.cells[0].outputs[0]["text"].strip())
"""


def test_a_kernel_that_does_not_answer_at_start_is_replaced_and_the_notebook_runs(tmp_path):
    """No cell has run when a kernel fails to answer, so grading starts another instead of giving up. (A kernel
    that never answers raises the same error as this one, after the start-up timeout: 60 s.)"""
    import os
    import subprocess
    import sys

    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-dies-once.py").write_text(KERNEL_THAT_DIES_ONCE)
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython"), "KIT_TEST_MARKER": str(tmp_path / "started")}
    # a process of its own: the grading sandbox (grading_engine.sandbox.current) is one per process
    run = subprocess.run([sys.executable, "-c", RUN_ONE_CELL, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "OUTPUT 42" in run.stdout
    assert "the kernel did not start" in run.stderr and (tmp_path / "started").exists()


def test_otters_log_server_decodes_records_without_unpickling_objects(tmp_path, monkeypatch):
    """In a box the kernel cannot reach otter's log server at all; where it can (no box), what it sends is decoded by an
    unpickler that refuses every class, and real records (plain dicts) still pass."""
    import pickle

    import otter.execute.logging as otter_logging

    from grading_engine.safeguards import decode_log_records_safely

    monkeypatch.setattr(otter_logging, "pickle", pickle)  # as otter has it, then guarded as grading guards it
    decode_log_records_safely()
    marker = tmp_path / "unpickled"

    class Bomb:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    handler = otter_logging.LogRecordStreamHandler.__new__(otter_logging.LogRecordStreamHandler)  # its unpickle only
    with pytest.raises(pickle.UnpicklingError):
        handler.unpickle(pickle.dumps(Bomb()))
    assert not marker.exists()
    record = {"name": "otter", "msg": "checked q1", "levelno": 20, "args": None}
    assert handler.unpickle(pickle.dumps(record)) == record


HELDOUT = "grading_engine.otter_plugins.HeldOutGrading"


def test_a_zip_built_without_its_secret_grades_nothing(engine_kit, engine_grade, tmp_path):
    """Fail closed: a zip whose configuration lost the held-out seeds (built by hand, not by otter assign) gives no
    points for a hidden test, and says why, instead of grading on some default seed."""
    changed = tmp_path / "autograder.zip"
    with zipfile.ZipFile(engine_kit.autograder_zip) as src, zipfile.ZipFile(changed, "w") as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "otter_config.json":
                config = json.loads(data)
                for plugin in config["plugins"]:
                    if isinstance(plugin, dict) and HELDOUT in plugin:
                        del plugin[HELDOUT]["heldout_seeds"]
                data = json.dumps(config).encode()
            out.writestr(item, data)
    graded = engine_grade(engine_kit.solutions_notebook, changed)
    assert graded.results["score"] == 0
    assert "has no held-out seed or data: build the autograder with otter assign" in graded.general_output


def _plugin_reading(path: pathlib.Path):
    from grading_engine.otter_plugins import HeldOutGrading

    plugin = HeldOutGrading("submission.ipynb", {}, {})
    plugin._export_path = str(path)
    return plugin


@pytest.mark.parametrize(
    "written",
    [b"{not json", b"[" * 100_000 + b"]" * 100_000, b'["a list", "not an object"]', b"\xff\xfe", b"42"],
    ids=["not-json", "nested-past-the-recursion-limit", "a-list", "not-utf8", "a-number"],
)
def test_a_forged_description_file_reads_as_no_network_and_never_stops_grading(written, tmp_path):
    """The kernel writes the file the grader reads: whatever it holds, the networks read as missing (each question
    then says its network was not found) and grading goes on."""
    path = tmp_path / "graded-networks.json"
    path.write_bytes(written)
    assert _plugin_reading(path)._read_descriptions() == ({}, None)


def test_a_description_file_with_more_values_than_the_cap_is_not_parsed(tmp_path):
    from grading_engine.otter_plugins.held_out_grading import MAX_DESCRIPTION_VALUES

    path = tmp_path / "graded-networks.json"
    path.write_bytes(b"[" + b"0," * (MAX_DESCRIPTION_VALUES + 1) + b"0]")
    descriptions, why = _plugin_reading(path)._read_descriptions()
    assert descriptions == {} and "larger than the autograder reads" in why


def test_grader_files_changed_while_the_notebook_ran_grade_nothing(tmp_path):
    """The grader's code is fingerprinted before the notebook runs and again before anything is graded: a file
    changed or added in between (by a kernel with more rights than it should have) stops the grading."""
    from grading_engine.otter_plugins.held_out_grading import _fingerprint

    for change in ("changed", "added"):
        code = tmp_path / change
        code.mkdir()
        (code / "marks.py").write_text("JUST_RIGHT = 5.5\n")
        plugin = _plugin_reading(tmp_path / "unused.json")
        plugin._code, plugin._fingerprint = [code], _fingerprint([code])
        (code / ("marks.py" if change == "changed" else "sitecustomize.py")).write_text("JUST_RIGHT = 1e9\n")
        with pytest.raises(RuntimeError, match="changed while the notebook ran"):
            plugin.after_grading(None)
