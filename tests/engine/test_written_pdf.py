"""The PDF of the written answers: what the student's export puts in it, and what the autograder uploads.

The export itself (Chromium through Playwright, from JupyterLab) is proven end to end by the browser test;
these are the fast checks of what goes in, and of the autograder never rendering a submission.
"""

from __future__ import annotations

import subprocess

import nbformat
import pytest
from otter.run.run_autograder.autograder_config import AutograderConfig

from graded_networks.written_answers import BEGIN, END, answers_notebook
from grading_engine.otter_plugins import NO_PDF_NOTICE, keep_submitted_pdf

PNG = {"image/png": "iVBORw0KGgo="}


def notebook() -> nbformat.NotebookNode:
    v4 = nbformat.v4
    figure = v4.new_output("display_data", data=PNG)
    log = v4.new_output("stream", text="epoch 1000: loss 0.1\n")
    return v4.new_notebook(cells=[
        v4.new_markdown_cell("# Lesson"),
        v4.new_code_cell("plot(model)  # the demo's code", outputs=[log, figure]),
        v4.new_markdown_cell(f"{BEGIN}\n\n**Question.** What is wrong with this picture?"),
        v4.new_markdown_cell("It memorised the noise."),
        v4.new_markdown_cell(f"{END}\n\n## The next section"),
        v4.new_code_cell("x = 1"),
        v4.new_markdown_cell(f"{BEGIN}\n\n**Question.** Why?"),
        v4.new_markdown_cell("Because."),
        v4.new_markdown_cell(f"{END}\n\n"),
    ])


def test_each_question_comes_with_the_figures_it_discusses_and_nothing_else():
    kept = answers_notebook(notebook()).cells
    assert [c.cell_type for c in kept] == ["code", "markdown", "markdown", "markdown", "markdown"]
    figure = kept[0]
    assert figure.source == "" and figure.outputs == [notebook().cells[1].outputs[1]]  # no code, no log
    text = "\n".join(c.source for c in kept[1:])
    assert "memorised the noise" in text and "Because." in text
    assert "The next section" not in text and "x = 1" not in text  # a code cell without figures adds nothing


def config(**settings) -> AutograderConfig:
    return AutograderConfig({"autograder_dir": "/autograder", **settings})


@pytest.mark.parametrize("settings", [{"pdf": True}, {"token": "t0ken"}])
def test_the_autograder_uploads_the_submitted_pdf_or_a_notice_never_a_rendering(tmp_path, settings):
    wanted = config(**settings)
    keep_submitted_pdf(wanted, tmp_path)
    assert wanted.use_submission_pdf  # otter takes the submitted PDF instead of rendering the notebook
    (notice,) = tmp_path.glob("*.pdf")
    shown = subprocess.run(["pdftotext", str(notice), "-"], capture_output=True, text=True).stdout
    assert " ".join(NO_PDF_NOTICE.split()) in " ".join(shown.split())

    submitted = tmp_path / "submitted"
    submitted.mkdir()
    (submitted / "fcnn.pdf").write_bytes(b"%PDF-1.4 the student's")
    keep_submitted_pdf(config(**settings), submitted)
    assert [p.name for p in submitted.iterdir()] == ["fcnn.pdf"]


def test_no_pdf_wanted_writes_nothing(tmp_path):
    keep_submitted_pdf(config(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_export_cells_own_kernels_say_nothing_of_tcp(tmp_path):
    """ipykernel warns in red that a kernel "is running over TCP without encryption": the export cell's check starts
    such kernels, and its warning concerns no student. With the export's IPython folder the warning is gone."""
    import os
    import sys

    from graded_networks.written_answers import quiet_ipython_dir

    start = "from jupyter_client.manager import start_new_kernel\nkm, kc = start_new_kernel()\nkc.stop_channels()\nkm.shutdown_kernel()"

    def stderr(ipython_dir):
        env = {**os.environ, "IPYTHONDIR": str(ipython_dir)}
        return subprocess.run([sys.executable, "-c", start], env=env, capture_output=True, text=True, timeout=120).stderr

    assert "without encryption" in stderr(tmp_path / "plain")  # what a student saw
    assert "without encryption" not in stderr(quiet_ipython_dir(tmp_path / "quiet"))
