"""Shared code for the "Regression and Classification with Fully Connected Neural Networks" kit.

- ``fcnn_kit.data``: the lesson's two data-generating processes.
- ``fcnn_kit.training``: the training helpers the notebook calls.
- ``fcnn_kit.plots``: the lesson's plots (fitted curve, decision regions).
- ``fcnn_kit.grading``: thresholds, held-out metrics and the checks behind every test.
- ``fcnn_kit.networks``: a graded network as JSON and back, rebuilt from an allow-list of layers.
- ``fcnn_kit.otter_plugins``: otter-grader plugins: held-out grading outside the student's kernel,
  torch seeding, a lean grading kernel.
- ``fcnn_kit.safeguards``: what keeps a submission from forging, hanging or crashing its grading.
- ``fcnn_kit.gradescope``: Gradescope's entry point (the zip's ``run_otter.py``), and grading one file here.
- ``fcnn_kit.lazy_imports``: modules loaded on first use, to keep grading's memory down.
"""
