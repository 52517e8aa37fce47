"""The autograder's limits for one notebook: the one place they live.

``GuardedGrading`` enforces them and the notebook states them to students (``fcnn_kit.grading.rules``), so
the two cannot drift. The master notebook's config may override them per assignment only through these names.
"""

TIME_LIMIT_S = 480
"""The whole notebook, every cell the autograder runs; Gradescope's own default timeout is 600 s."""
MEMORY_LIMIT_MB = 1536
"""The kernel's address space: about 1 GB resident at most (torch maps about 0.5 GB it never touches)."""
