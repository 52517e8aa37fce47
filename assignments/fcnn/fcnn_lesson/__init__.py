"""The lesson "Regression and Classification with Fully Connected Neural Networks": everything it knows.

- ``fcnn_lesson.exercises``: what the autograder grades (graded names, hooks) and its limits; read by the engine.
- ``fcnn_lesson.data``: the lesson's two data-generating processes.
- ``fcnn_lesson.training``: the training helpers the notebook calls.
- ``fcnn_lesson.plots``: the lesson's plots (fitted curve, decision regions).
- ``fcnn_lesson.grading``: pass marks, held-out assessments, public checks, validation cells and the rules text.

The grading engine (``engine/``) knows none of this; the master notebook's config wires the two together.
"""
