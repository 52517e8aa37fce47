"""A mark lives in one place: moved there, the band, the student's message, the rules the notebook prints and the
calibration page all follow, with no other edit.

The lesson's package is copied, one mark is edited in its ``exercises.py`` (as an instructor would), and each place is
read in a fresh process from that copy.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

from instructor.assign import REPO

LESSON = REPO / "assignments" / "fcnn"
PROBE = """
import json, pathlib, sys
sys.path[:0] = sys.argv[1:4]
import calibrate
from fcnn_lesson import grading
from fcnn_lesson.exercises import REGRESSION
from graded_networks import verdict

metrics = {"heldout_mse_in_range": 5.2, "n_in_range": 48000, "heldout_mse": 5.3, "train_mse": 4.6, "noise_mse": 4.0}
judged = verdict.judge(REGRESSION, metrics, "the held-out points")
calibrate.main(["--report-only", "--out", sys.argv[4]])
page = (pathlib.Path(sys.argv[4]) / "calibration.md").read_text()
print(json.dumps({"band": judged.band, "message": judged.message, "rules": grading.rules("regression"), "page": page}))
"""


def _read_everywhere(tmp_path: pathlib.Path, edit: tuple[str, str] | None) -> dict:
    copy = tmp_path / ("moved" if edit else "as-is")
    shutil.copytree(LESSON / "fcnn_lesson", copy / "fcnn_lesson")
    shutil.copy(LESSON / "calibrate.py", copy / "calibrate.py")
    out = copy / "docs"
    shutil.copytree(REPO / "docs" / "fcnn" / "calibration", out / "calibration")
    if edit:
        exercises = copy / "fcnn_lesson" / "exercises.py"
        source = exercises.read_text()
        assert source.count(edit[0]) == 1, edit
        exercises.write_text(source.replace(*edit))
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(copy), str(REPO / "engine"), str(REPO), str(out)],
        capture_output=True, text=True, cwd=copy, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_a_moved_mark_moves_the_band_the_message_the_rules_and_the_calibration_page(tmp_path):
    before = _read_everywhere(tmp_path, None)
    after = _read_everywhere(tmp_path, ("REGRESSION_MAX_IN_RANGE_MSE = 5.5", "REGRESSION_MAX_IN_RANGE_MSE = 5.0"))

    assert (before["band"], after["band"]) == ("just right", "close")
    assert "Band: just right." in before["message"] and "Band: close." in after["message"]
    for place in ("message", "rules", "page"):
        assert "at most 5.5" in before[place] and "at most 5.5" not in after[place], place
        assert "at most 5 " in after[place] or "at most 5;" in after[place] or "at most 5 |" in after[place], place
    # the page's shares are judged again by the moved mark: fewer "just right" regressions
    good = [line for line in before["page"].splitlines() if line.startswith("| zoo: good |")]
    moved = [line for line in after["page"].splitlines() if line.startswith("| zoo: good |")]
    assert good and moved and good[0] != moved[0]
