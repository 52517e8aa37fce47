"""The lesson "Classifying Handwritten Digits with a Fully Connected Network": everything it knows.

- ``digits_lesson.exercises``: what the autograder grades (graded name, hooks, pass marks) and its limits.
- ``digits_lesson.data``: scikit-learn's 8x8 digits, split once (training, validation, held out).
- ``digits_lesson.training``: the training helper, and how a network's outputs are read (logits or probabilities).
- ``digits_lesson.plots``: the lesson's pictures (digits, a confusion matrix, training curves).
- ``digits_lesson.grading``: held-out assessment, public check, validation cell and the rules text.

The grading engine (``engine/``) knows none of this; the master notebook's config wires the two together.
"""
