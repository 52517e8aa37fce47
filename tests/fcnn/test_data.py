"""The kit's data are the lesson's data, bit for bit, and held-out data come from the same process."""

from __future__ import annotations

import torch
from torch.distributions import bernoulli

from fcnn_lesson.data import bayes_classifier, lesson_data, regression_truth, sample_classification, sample_regression


def lesson_code_data():
    """The lesson's own data cells, as written in the lesson plan."""
    torch.manual_seed(42)
    x_reg = 1.5 * torch.randn(100, 1)
    y_reg = (2 * x_reg + 3.0 * torch.sin(3 * x_reg) + 1 + 2 * torch.randn(100, 1)).squeeze()
    x_clf = 2.5 * torch.randn(200, 2)
    d = torch.sqrt(x_clf[:, 0] ** 2 + x_clf[:, 1] ** 2)
    y_clf = d < torch.pi
    width = 0.7
    pgivd = 0.3 * width**2 / ((d - torch.pi) ** 2 + width**2)
    swaps = bernoulli.Bernoulli(pgivd).sample().type(torch.bool)
    y_clf[swaps] = ~y_clf[swaps]
    return x_reg, y_reg, x_clf, y_clf


def test_lesson_data_matches_the_lessons_code_bit_for_bit():
    for ours, lessons in zip(lesson_data(), lesson_code_data()):
        assert ours.dtype == lessons.dtype and torch.equal(ours, lessons)


def test_lesson_data_leaves_the_global_random_state_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    lesson_data()
    assert torch.equal(torch.rand(3), expected)


def test_heldout_samples_follow_the_generating_process():
    x, y = sample_regression(50_000, torch.Generator().manual_seed(1))
    assert x.shape == (50_000, 1) and y.shape == (50_000,)
    # the truth's MSE on fresh data is the noise variance, 4
    assert abs(((regression_truth(x).squeeze(1) - y) ** 2).mean().item() - 4.0) < 0.15
    x, y = sample_classification(50_000, torch.Generator().manual_seed(1))
    bayes_accuracy = ((bayes_classifier(x) > 0.5) == y).float().mean().item()
    assert 0.875 < bayes_accuracy < 0.895  # the measured Bayes-optimal accuracy: 0.885
