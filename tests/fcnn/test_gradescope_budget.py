"""Graded as Gradescope's default container would grade it: 768 MB for the whole grading, half a CPU, root with
Docker's default capabilities (simulated here with a memory and a CPU cgroup and ``setpriv --bounding-set``; the
container's seccomp profile is not). Whatever the notebook, the grading ends within its budget with a results.json:
the solutions and wide honest networks with their honest grade, descriptions too large to grade with a message that
names the cap, before anything of them is built.
"""

from __future__ import annotations

import json
import os
import time

import nbformat
import pytest
from test_corpus import SHORT_TIME_LIMIT_S, SLOW_WHEN_EVALUATED

from conftest import DOCKER_CAPABILITIES, GRADESCOPE_MEMORY_MB, Graded, built_kit, grade_here, with_time_limit
from grading_engine.safeguards import EXPORT_GRACE_S
from instructor.bench import WIDE_NETWORK, with_regressor

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="cgroups and capabilities need root")]

CHAINED = """\
torch.manual_seed(0)
just_right_regressor = nn.Sequential(nn.Linear(1, 8), *[nn.ReLU() for _ in range(3000)], nn.Linear(8, 1))
train_and_test_regression_model(just_right_regressor, num_epochs=1, reporting_interval=0)
"""

FORGED = """\
# a description of a million operations, written in place of the autograder's own (34 MB, under its size cap)
import json
import graded_networks.networks as networks
def forged(models, inputs, path):
    nodes = [{"op": "input"}] + [{"op": "relu", "inputs": [i]} for i in range(1_000_000)]
    with open(path, "w") as f:
        json.dump({name: {"format": networks.FORMAT, "nodes": nodes, "output": 1_000_000} for name in models}, f)
networks.write_descriptions = forged
print("FORGED-EXPORT installed")
"""


def _with_regressor(kit, tmp_path, name: str, answer: str, *extra: str) -> os.PathLike:
    notebook = with_regressor(kit.solutions_notebook, answer, tmp_path / name / "fcnn.ipynb", extra)
    assert notebook is not None, "the solutions have no single regression answer cell"
    return notebook


def _graded(results: dict, question: str) -> dict:
    return results.get("extra_data", {}).get("questions", {}).get(question, {})


def _scores(results: dict) -> dict:
    return {t["name"]: t.get("score") for t in results.get("tests", []) if t["name"].startswith("q_")}


def _in_container(kit, notebook, autograder_zip=None) -> dict:
    results = grade_here(autograder_zip or kit.autograder_zip, notebook, DOCKER_CAPABILITIES, container=True)
    cost = results["container"]
    assert results.get("tests"), results["log"][-3000:]  # Gradescope found results
    assert cost.oom_kills == 0 and cost.peak_mb <= GRADESCOPE_MEMORY_MB, cost
    print(f"\n{notebook.parent.name}: peak {cost.peak_mb:.0f} MB")
    return results


def test_the_solutions_get_full_marks_in_gradescopes_default_container(kit):
    results = _in_container(kit, kit.solutions_notebook)
    assert _scores(results) == {"q_regression": 5, "q_classification": 5}


def test_the_digits_solutions_get_full_marks_in_gradescopes_default_container(tmp_path_factory):
    digits = built_kit(tmp_path_factory, "digits")
    assert _scores(_in_container(digits, digits.solutions_notebook)) == {"q_digits": 5}


def test_a_notebook_slow_to_describe_ends_within_its_budget_in_the_container(kit, tmp_path):
    """26 cells mention a network that sleeps when evaluated: the added description cells count against the
    notebook's budget and only the last gets its grace, so the grading ends in time, with what was answered graded."""
    nb = nbformat.read(kit.solutions_notebook, as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(SLOW_WHEN_EVALUATED)]
    nb.cells += [nbformat.v4.new_code_cell(f"just_right_regressor  # mention {i}") for i in range(26)]
    notebook = tmp_path / "slow" / "fcnn.ipynb"
    notebook.parent.mkdir()
    nbformat.write(nb, notebook)
    short = with_time_limit(kit.autograder_zip, tmp_path / "short.zip", SHORT_TIME_LIMIT_S)
    started = time.monotonic()
    results = _in_container(kit, notebook, short)
    assert time.monotonic() - started < SHORT_TIME_LIMIT_S + EXPORT_GRACE_S + 90  # start-up and imports at half a CPU
    assert "time limit ran out" in results["output"], results["output"]
    assert _scores(results) == {"q_regression": 5, "q_classification": 5}


@pytest.mark.parametrize("width, depth, epochs", [(512, 4, 300), (1024, 8, 8)], ids=["4x512", "8x1024"])
def test_a_wide_honest_network_is_graded_within_768_mb(width, depth, epochs, kit, tmp_path):
    notebook = _with_regressor(kit, tmp_path, f"wide-{depth}x{width}", WIDE_NETWORK.format(width=width, depth=depth, epochs=epochs))
    results = _in_container(kit, notebook)
    graded = _graded(results, "q_regression")
    assert graded.get("band") is not None and "heldout_mse_in_range" in graded.get("metrics", {}), graded
    assert _scores(results)["q_classification"] == 5


def test_a_description_past_the_caps_is_refused_by_the_check_and_the_grader_alike(kit, tmp_path):
    results = _in_container(kit, _with_regressor(kit, tmp_path, "chained", CHAINED))
    graded = _graded(results, "q_regression")
    assert graded.get("band") is None and "operations (at most 1,000)" in graded.get("error", ""), graded
    assert _scores(results) == {"q_regression": 0, "q_classification": 5}
    # and the notebook's own check, run in the grading kernel, said so before the grade did
    check = Graded(results, results["log"], results["folder"] / "results" / "results.json", 0.0)
    assert check.notebook_check_passed("q_regression") is False


def test_a_forged_description_too_large_to_parse_is_refused_before_parsing(kit, tmp_path):
    results = _in_container(kit, _with_regressor(kit, tmp_path, "forged", WIDE_NETWORK.format(width=8, depth=1, epochs=1), FORGED))
    for question in ("q_regression", "q_classification"):
        assert "larger than the autograder reads" in _graded(results, question).get("error", ""), json.dumps(results, default=str)[:2000]
    assert _scores(results) == {"q_regression": 0, "q_classification": 0}
