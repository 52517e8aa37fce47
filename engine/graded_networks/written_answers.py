"""The PDF of a student's written answers, made in the student's own environment when they export.

Otter's export cell makes its PDF through LaTeX, which most student laptops lack, and ``Notebook.export`` has
no setting for its other exporter. Otter's own extension point for "more files in the submission zip" is a
plugin's ``notebook_export`` event, which a master calls with a ``# BEGIN PLUGIN EXPORT`` block (otter assign
turns it into ``grader.add_plugin_files(...)``, which does nothing while the autograder runs the notebook).
This plugin makes the PDF with otter's HTML exporter (nbconvert's WebPDF: Chromium through Playwright), and
the export cell adds it to the zip. The PDF holds each written Question (the cells otter assign marks with
``<!-- BEGIN QUESTION -->`` ... ``<!-- END QUESTION -->``) and the figures of the code cell just before it,
which the Question discusses ("What is wrong with this picture?"); otter's own filter keeps the Questions only.

The autograder uses this PDF as submitted (``use_submission_pdf`` in the master): it never renders a
submitted notebook itself, so nothing a notebook holds runs in a browser on the grading machine.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import warnings

import nbformat
from otter.plugins import AbstractOtterPlugin

BEGIN, END = "<!-- BEGIN QUESTION -->", "<!-- END QUESTION -->"
"""How otter assign marks a written Question in the student's notebook (its answer cells lie between)."""
FIGURES = ("image/png", "image/jpeg", "image/svg+xml")

HELP = (
    "Could not make the PDF of your written answers: {error}\n"
    "The PDF needs a browser that Playwright can start. Install one once with\n"
    "    python -m playwright install chromium\n"
    "then save the notebook and run this cell again. The zip the next cell makes will not hold the PDF,\n"
    "and your written answers cannot be graded without it."
)


def answers_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The Questions of ``nb``, each after the figures of the code cell before it (its code left out)."""
    kept, inside = [], False
    for i, cell in enumerate(nb.cells):
        text = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if not inside and cell.cell_type == "markdown" and text.lstrip().startswith(BEGIN):
            inside = True
            before = nb.cells[i - 1] if i else None
            if before is not None and before.cell_type == "code":
                figures = [o for o in before.get("outputs", []) if any(k in o.get("data", {}) for k in FIGURES)]
                if figures:
                    kept.append(nbformat.v4.new_code_cell(source="", outputs=figures))
        if inside:
            if cell.cell_type == "markdown" and text.lstrip().startswith(END):
                inside = False  # what follows the marker in this cell is the next section
                continue
            kept.append(cell)
    return nbformat.v4.new_notebook(cells=kept, metadata=nb.metadata)


QUIET_KERNEL_CONFIG = "c.IPKernelApp.log_level = 'ERROR'\n"
"""The export cell's check runs the notebook in kernels of its own, over local TCP: each would print ipykernel's
warning that it "is running over TCP without encryption", in red under the export cell, about nothing that concerns
the student. Their IPython folder tells them to log errors only."""


def quiet_ipython_dir(parent: pathlib.Path) -> pathlib.Path:
    """An IPython folder under ``parent`` whose kernels log errors only (see :data:`QUIET_KERNEL_CONFIG`)."""
    profile = parent / "ipython" / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text(QUIET_KERNEL_CONFIG)
    return parent / "ipython"


class WrittenAnswersPDF(AbstractOtterPlugin):
    """Otter plugin: ``notebook_export`` writes ``NOTEBOOK.pdf`` (the written Questions) and returns its path."""

    def notebook_export(self, *args, **kwargs) -> list[str]:
        from otter.export import export_notebook

        notebook = pathlib.Path(self.submission_path)
        pdf = notebook.with_suffix(".pdf")
        # beside the notebook, so that images it links to by relative path still resolve
        answers = notebook.with_name(f".{notebook.stem}-written-answers.ipynb")
        try:
            nbformat.write(answers_notebook(nbformat.read(notebook, as_version=4)), answers)
            export_notebook(str(answers), dest=str(pdf), exporter_type="html")
        except Exception as error:  # noqa: BLE001 - whatever failed, the student needs the same advice
            warnings.warn(HELP.format(error=f"{type(error).__name__}: {error}"), stacklevel=2)
            return []
        finally:
            answers.unlink(missing_ok=True)
        print(f"Wrote {pdf.name}: your written answers, for the graders. The export cell puts it in your zip.")
        # the export cell, next, checks the zip in kernels this kernel starts: they inherit this folder
        os.environ["IPYTHONDIR"] = str(quiet_ipython_dir(pathlib.Path(tempfile.mkdtemp(prefix="otter-export-"))))
        return [os.path.relpath(pdf)]
