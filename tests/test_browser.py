"""The student notebooks in a real JupyterLab, driven by Debian's Chromium through Playwright.

Each assignment's student notebook, filled with the solutions' answers, runs top to bottom ("Run All Cells") as a
student runs it, both at the same time in two workspaces: its public checks pass, its plots render, its validation
cells say it would pass (its demos train for a hundredth of their epochs). It also carries the master's model
answers to the written Questions, and its PDF cell and export cell export them: every answer is found in the PDF
(``pdftotext``) and the PDF in the zip, which the autograder grades to full marks. Screenshots, and each PDF's
first page, are kept in ``tests/artifacts/``. (The untouched notebook's polite run to the end is checked on its
grading, in ``tests/fcnn/test_grading.py``.)
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile

import nbformat
import pytest

from conftest import ASSIGNMENT, GRADED_NAMES, answer_cell_of, built_kit
from instructor.assign import REPO
from instructor.manual import BEGIN, END, written_questions

CHROMIUM = "/usr/bin/chromium"

# Outside CI a missing Chromium skips this test with the reason (`make browser` installs it, as root); in CI
# (CI=true) it must run, so a missing Chromium fails it instead.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and shutil.which("pdftotext")) and os.environ.get("CI") != "true",
        reason=f"{CHROMIUM} or pdftotext is not installed: run `make browser` (as root) to install them",
    ),
]
ARTIFACTS = pathlib.Path(__file__).parent / "artifacts"
TOKEN = "kit-browser-test"
RUN_TIMEOUT_S = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Lesson:
    """An assignment as this test runs it: its graded names and how many validation cells it has."""

    name: str
    graded: dict[str, str]
    validations: int

    @property
    def master(self) -> pathlib.Path:
        return REPO / "assignments" / self.name / f"{self.name}.ipynb"

    @property
    def folder(self) -> str:
        """Its filled-in copy's folder in the JupyterLab server (and its screenshot's name)."""
        return f"{self.name}-filled"


LESSONS = [Lesson(ASSIGNMENT, GRADED_NAMES, 2), Lesson("digits", {"q_digits": "digit_classifier"}, 1)]
"""Both assignments, each filled in."""


def filled_with_solutions(kit, lesson: Lesson) -> nbformat.NotebookNode:
    """The student notebook with each exercise cell replaced by the solutions notebook's."""
    student = nbformat.read(kit.student_dir / f"{lesson.name}.ipynb", as_version=4)
    solutions = nbformat.read(kit.solutions_notebook, as_version=4)
    for name in lesson.graded.values():
        (answer,) = [c for c in student.cells if answer_cell_of(c, name)]
        (solution,) = [c for c in solutions.cells if c.cell_type == "code" and f"{name} = nn." in c.source]
        answer.source = solution.source
    # each written Question's answer cell gets the master's model answer
    answers = iter(q.model_answer for q in written_questions(lesson.master))
    inside = False
    for cell in student.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith((BEGIN, END)):
            inside = cell.source.lstrip().startswith(BEGIN)
        elif inside and "otter_answer_cell" in cell.metadata.get("tags", []):
            cell.source = next(answers)
            inside = False
    assert next(answers, None) is None, "a written Question has no answer cell"
    return student


def words(text: str) -> str:
    """``text`` as a PDF's text shows it: markdown's marks gone, one space between words."""
    return " ".join(re.sub(r"[*_`]", "", text).split())


def with_short_demos(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` with the demo cells' long trainings (``50_000`` epochs, ...) cut to a hundredth.

    This test is about every cell running and rendering in JupyterLab, which a hundredth shows as well;
    the demos' full length, two minutes of training, is what ``make bench``'s student row times.
    """
    for cell in nb.cells:
        if cell.cell_type == "code" and "otter_ignore" in cell.metadata.get("tags", []):
            cell.source = re.sub(r"\b(\d+)_000\b", r"\1_0", cell.source)
    return nb


@pytest.fixture(scope="module")
def jupyterlab(kit, tmp_path_factory):
    """A JupyterLab server on loopback serving each assignment's student folder, filled in."""
    root = tmp_path_factory.mktemp("lab")
    kits = {ASSIGNMENT: kit, "digits": built_kit(tmp_path_factory, "digits")}
    for lesson in LESSONS:
        folder = root / lesson.folder
        shutil.copytree(kits[lesson.name].student_dir, folder)
        nbformat.write(with_short_demos(filled_with_solutions(kits[lesson.name], lesson)), folder / f"{lesson.name}.ipynb")
    # Render every cell (JupyterLab 4 only renders those on screen by default) and fetch no news.
    settings = root / ".settings"
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = free_port()
    log = (root / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings)},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, (root / "jupyterlab.log").read_text()[-3000:]
            time.sleep(0.5)
    yield Lab(base, root)
    server.terminate()
    server.wait(timeout=30)


@dataclasses.dataclass
class Lab:
    base: str
    root: pathlib.Path


def open_and_run_all(browser, base: str, folder: str, notebook: str = ASSIGNMENT):
    """Open ``folder/NOTEBOOK.ipynb`` in its own workspace and start "Run All Cells"; return the page."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/lab/workspaces/{folder}/tree/{folder}/{notebook}.ipynb?token={TOKEN}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    # the kernel has started and the notebook is connected to it (Run All before that runs nothing)
    page.wait_for_selector(".jp-StatusBar-Widget >> text=/Python 3.*Idle/", timeout=120_000)
    page.wait_for_timeout(3000)
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    return page


def prompts(page) -> list[str]:
    return page.eval_on_selector_all(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent.trim())"
    )


def finished(page) -> bool:
    """Every code cell has run: none is running ([*]) and the last one has an execution count."""
    shown = prompts(page)
    return bool(shown) and not any("*" in p for p in shown) and any(ch.isdigit() for ch in shown[-1])


def notebook_text(page) -> str:
    return page.inner_text(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")


def test_student_notebook_runs_top_to_bottom_in_jupyterlab(jupyterlab, grade):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            pages = {lesson.folder: open_and_run_all(browser, jupyterlab.base, lesson.folder, lesson.name) for lesson in LESSONS}
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while not all(finished(page) for page in pages.values()):
                stuck = {f: prompts(pg)[-3:] for f, pg in pages.items()}
                assert time.monotonic() < deadline, f"Run All did not reach the last cell: {stuck}"
                time.sleep(2)

            for folder, page in pages.items():
                page.locator("text=check_all").first.scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / f"jupyterlab-{folder}.png"))

            for lesson in LESSONS:
                filled = pages[lesson.folder]
                text = notebook_text(filled)
                assert "Traceback" not in text, lesson.name
                for question in lesson.graded:
                    assert f"{question} passed!" in text.replace("\n", " ")
                assert text.count("this model would pass the hidden test") == lesson.validations
                # the plots rendered: images with real pixels in the outputs (the animation is HTML, not counted)
                widths = filled.eval_on_selector_all(
                    ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img", "els => els.map(e => e.naturalWidth)"
                )
                assert len(widths) >= 3 and all(w > 100 for w in widths), (lesson.name, widths)

                # the written answers, exported through Chromium by the PDF cell, in the PDF and the zip
                folder = pathlib.Path(jupyterlab.root) / lesson.folder
                pdf = folder / f"{lesson.name}.pdf"
                assert pdf.is_file(), text[-2000:]
                (zip_path,) = folder.glob(f"{lesson.name}_*.zip")
                assert pdf.name in zipfile.ZipFile(zip_path).namelist()
                in_pdf = words(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout)
                for question in written_questions(lesson.master):
                    assert words(question.model_answer) in in_pdf, question.name
                subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                                str(ARTIFACTS / f"written-answers-{lesson.name}-page-1")], check=True)
                if lesson.name == ASSIGNMENT:  # the zip the export cell wrote is a submission: full marks
                    graded = grade(zip_path)
                    assert [graded.score(q) for q in lesson.graded] == [5, 5], graded.results

        finally:
            browser.close()
