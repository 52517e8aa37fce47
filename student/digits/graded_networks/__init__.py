"""The part of the grading engine that runs in the student's kernel too (students receive it).

- ``graded_networks.networks``: a network described by what it computes (JSON), and rebuilt from an allow-list.
- ``graded_networks.verdict``: bands, assessments, and the network the autograder grades (``as_graded``).
- ``graded_networks.exercise``: how a lesson declares its graded exercises and limits.
- ``graded_networks.written_answers``: the otter plugin that puts the PDF of the written answers in the submission.

Importing this package imports nothing heavy; ``networks`` and ``verdict`` import torch.
"""
