"""Pass marks as the one executable source of a band: the grader, the checks, the rules and the reports read them.

A lesson declares its marks as data (:class:`Mark`) and its assessment returns metrics only; :func:`band` derives
the band from the two and :func:`marks_text` states them in words. Move a mark and every place that grades with it
or states it follows. This module imports nothing heavy: the grading process reads marks before the notebook runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BANDS = ("off", "close", "just right")
"""The hidden test's bands, worst first; a band's index is how many hidden test cases it passes."""


@dataclass(frozen=True)
class Metric:
    """A measured number as people read it: its key in the metrics, its words, and how it is printed."""

    key: str
    label: str
    """Words for the number, as they read after "On the held-out points:" (``"in-range MSE"``)."""
    digits: int = 3
    """Decimals shown."""
    spread: float = 0.0
    """How far this metric may move between the validation sample and the held-out one (sampling alone): the
    validation cell warns when a network is this close to a mark on it."""

    def show(self, value: float) -> str:
        """The value as the messages print it."""
        return f"{value:,}" if isinstance(value, int) else f"{value:.{self.digits}f}"


def within(value: float | None, at_most: float | None, at_least: float | None) -> bool:
    """Whether ``value`` is at most ``at_most`` or at least ``at_least`` (whichever is given); a missing or NaN value
    is neither: the one comparison marks and alerts share."""
    if value is None or value != value:
        return False
    return (at_most is not None and value <= at_most) or (at_least is not None and value >= at_least)


@dataclass(frozen=True)
class Mark:
    """One pass mark: ``band`` needs ``metric`` at most ``at_most``, or at least ``at_least`` (give exactly one)."""

    band: str
    metric: str
    at_most: float | None = None
    at_least: float | None = None

    def __post_init__(self) -> None:
        if (self.at_most is None) == (self.at_least is None):
            raise ValueError(f"the mark on {self.metric!r} for {self.band!r} needs exactly one of at_most and at_least")
        if self.band not in BANDS[1:]:
            raise ValueError(f"a mark's band is one of {BANDS[1:]}, not {self.band!r}")

    @property
    def value(self) -> float:
        """The number the metric is compared with."""
        return self.at_most if self.at_most is not None else self.at_least  # type: ignore[return-value]

    def holds(self, metrics: Mapping[str, float]) -> bool:
        """Whether ``metrics`` meet this mark (a missing or NaN metric meets none)."""
        return within(metrics.get(self.metric), self.at_most, self.at_least)

    def words(self, label: str) -> str:
        """``"in-range MSE at most 5.5"``."""
        return f"{label} {'at most' if self.at_most is not None else 'at least'} {self.value:g}"

    def __str__(self) -> str:
        return f"{self.band}: {self.metric} {'<=' if self.at_most is not None else '>='} {self.value:g}"


@dataclass(frozen=True)
class Alert:
    """A measurement no honest network reaches, calibrated on the lesson's zoo: flagged for the instructor (the
    batch report, ``extra_data``), never a change of grade. ``metric`` at most ``at_most`` or at least ``at_least``."""

    metric: str
    why: str
    """For the instructor: what the measurement suggests (``"trained on the held-out digits?"``)."""
    at_most: float | None = None
    at_least: float | None = None

    def holds(self, metrics: Mapping[str, float]) -> bool:
        """Whether ``metrics`` raise this alert (a missing or NaN metric raises none)."""
        return within(metrics.get(self.metric), self.at_most, self.at_least)

    def __str__(self) -> str:
        bound = f"<= {self.at_most:g}" if self.at_most is not None else f">= {self.at_least:g}"
        return f"{self.metric} {bound}: {self.why}"


def alerts(metrics: Mapping[str, float], raised_by: tuple[Alert, ...]) -> list[str]:
    """The alerts ``metrics`` raise, as the instructor reads them."""
    return [str(alert) for alert in raised_by if alert.holds(metrics)]


def band(metrics: Mapping[str, float], marks: tuple[Mark, ...]) -> str:
    """The best band whose every mark holds for ``metrics``; ``"off"`` when none does (a band without marks is
    never given)."""
    for candidate in reversed(BANDS[1:]):
        its = [m for m in marks if m.band == candidate]
        if its and all(m.holds(metrics) for m in its):
            return candidate
    return BANDS[0]


def bands_with_marks(marks: tuple[Mark, ...]) -> list[str]:
    """The bands above "off" that some mark defines, best first."""
    return [b for b in reversed(BANDS[1:]) if any(m.band == b for m in marks)]


def marks_text(marks: tuple[Mark, ...], metrics: tuple[Metric, ...], points: Mapping[str, int] | None = None) -> str:
    """The marks in words, best band first: ``"just right with accuracy at least 0.94 and cross-entropy at most 0.3;
    close with ...; off otherwise"``; with ``points``, in Markdown with each band's points."""

    def name(band_name: str) -> str:
        return f"**{band_name}**" if points else band_name

    parts = []
    for band_name in bands_with_marks(marks):
        parts.append(f"{name(band_name)} with {conditions(band_name, marks, metrics)}" + (f" ({points[band_name]} points)" if points else ""))
    parts.append(f"{name(BANDS[0])} otherwise" + (f" ({points[BANDS[0]]} points)" if points else ""))
    return "; ".join(parts)


def conditions(band_name: str, marks: tuple[Mark, ...], metrics: tuple[Metric, ...]) -> str:
    """What ``band_name`` needs, in words: ``"accuracy at least 0.94 and cross-entropy at most 0.3"``."""
    labels = {m.key: m.label for m in metrics}
    return " and ".join(m.words(labels.get(m.metric, m.metric)) for m in marks if m.band == band_name)


def marks_table(marks: tuple[Mark, ...], metrics: tuple[Metric, ...], points: Mapping[str, int]) -> str:
    """The marks as a Markdown table, best band first (for calibration pages and reports)."""
    lines = ["| band | needs | hidden points |", "|---|---|---:|"]
    lines += [f"| {b} | {conditions(b, marks, metrics)} | {points[b]} |" for b in bands_with_marks(marks)]
    lines.append(f"| {BANDS[0]} | otherwise | {points[BANDS[0]]} |")
    return "\n".join(lines)


def near_marks(metrics: Mapping[str, float], marks: tuple[Mark, ...], shown: tuple[Metric, ...]) -> list[str]:
    """The metrics whose value is within their :attr:`Metric.spread` of a mark: on another sample of the same size
    the network could land on the mark's other side."""
    spreads = {m.key: m for m in shown if m.spread}
    near = []
    for mark in marks:
        metric = spreads.get(mark.metric)
        value = metrics.get(mark.metric)
        if metric and value is not None and abs(value - mark.value) < metric.spread and metric.label not in near:
            near.append(metric.label)
    return near
