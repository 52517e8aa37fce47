"""The grading engine's otter-grader plugins, enabled in a master notebook's ``ASSIGNMENT CONFIG``::

    generate:
      plugins:
        - grading_engine.otter_plugins.GuardedGrading: {limits: my_lesson.exercises.LIMITS}
        - grading_engine.otter_plugins.SeedTorch
        - grading_engine.otter_plugins.LeanKernel
        - grading_engine.otter_plugins.HeldOutGrading: {questions: {q1: my_lesson.exercises.EXERCISE}}

``GuardedGrading`` comes first: it sets up the grading (the box, the guarded executor) and numbers the notebook's
cells before the others add to them. One plugin a module, as otter's own plugins are laid out.
Students see nothing of them: they only run in the autograder. The lesson's own code is found by the dotted
names in this config; in the autograder it lives in the zip's ``files/`` (see :func:`lesson_code_importable`).
"""

from .guarded_grading import NO_PDF_NOTICE, GuardedGrading, keep_submitted_pdf
from .held_out_grading import SEEDS_FILE, HeldOutGrading
from .lean_kernel import LeanKernel
from .seed_torch import SeedTorch

__all__ = ["NO_PDF_NOTICE", "SEEDS_FILE", "GuardedGrading", "HeldOutGrading", "LeanKernel", "SeedTorch", "keep_submitted_pdf"]
