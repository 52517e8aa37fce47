"""What a graded network's problems raise: errors a student can fix, with messages that say how."""


class SubmissionError(Exception):
    """A problem with a submitted model that the student can fix; the message says how."""


class NotANetwork(SubmissionError):
    """The object cannot be described as a fully connected network; the message says why."""


SMALLER = "The exercise's networks need far less: a few layers of a few hundred units are plenty."
"""What a network too large to grade is told."""
