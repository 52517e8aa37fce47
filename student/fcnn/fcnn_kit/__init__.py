"""Shared code for the "Regression and Classification with Fully Connected Neural Networks" kit.

- ``fcnn_kit.data``: the lesson's two data-generating processes.
- ``fcnn_kit.training``: the training helpers the notebook calls.
- ``fcnn_kit.plots``: the lesson's plots (fitted curve, decision regions).
- ``fcnn_kit.grading``: thresholds, held-out metrics and the checks behind every test.
- ``fcnn_kit.networks``: a graded network as JSON and back, rebuilt from an allow-list of layers.
- ``fcnn_kit.otter_plugins``: otter-grader plugins: held-out grading outside the student's kernel,
  torch seeding, a lean grading kernel.
"""
