"""The course's grading engine: otter-grader plugins that grade networks outside the student's kernel.

It knows no lesson: each assignment names its graded exercises and limits in its master notebook's config
(``graded_networks.exercise``), and the engine loads them by dotted name.

- ``grading_engine.otter_plugins``: the plugins (held-out grading, guards, torch seeding, a lean kernel).
- ``grading_engine.safeguards``: what keeps a submission from forging, hanging or crashing its grading.
- ``grading_engine.sandbox`` (and ``kernel_launch.py``): each grading's kernel in a box of its own (bubblewrap), as a uid of its own.
- ``grading_engine.results``: a ``results.json`` whatever happens, with the measurements as data.
- ``grading_engine.gradescope``: grading one submission here exactly as Gradescope does.
- ``grading_engine.lazy_imports``: modules loaded on first use, to keep grading's memory down.

Students never receive this package; their kernel imports only ``graded_networks``.
"""
