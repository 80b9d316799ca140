"""Figures of a run: noisy training curves drawn readably, and accuracies with their intervals.

A LaTRO step's logged values come from a handful of questions (the demo: 2 questions x K rationales), so one step's
reward can swing by 15 nats from the next with no trend behind it. A curve is therefore drawn as its raw points,
faint, under a centred moving average: the eye follows the line, and the points show how much noise it smooths.

matplotlib is optional (``pip install matplotlib``): :func:`pyplot` returns ``None`` without it, and callers skip
the figure with a note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def pyplot() -> Any:
    """matplotlib's ``pyplot`` on the file-only Agg backend, or ``None`` when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Centred moving average over ``window`` points (odd; shrunk at the ends), skipping non-finite values; a point
    with no finite value in its window is NaN."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    half = window // 2
    smoothed = []
    for i in range(len(values)):
        finite = [v for v in values[max(0, i - half) : i + half + 1] if math.isfinite(v)]
        smoothed.append(sum(finite) / len(finite) if finite else math.nan)
    return smoothed


def smoothing_window(num_points: int) -> int:
    """About a sixth of the curve, odd, at least 3 (a 24-step demo run: 5; a 96-step run: 17)."""
    window = max(3, num_points // 6)
    return window if window % 2 else window + 1


def raw_and_smoothed(ax: Any, x: Sequence[float], y: Sequence[float], label: str | None = None, **style: Any) -> None:
    """Draw ``y`` against ``x`` as faint raw points under its moving average (:func:`smoothing_window`)."""
    (line,) = ax.plot(x, moving_average(y, smoothing_window(len(y))), label=label, linewidth=2, **style)
    ax.plot(x, y, "o", markersize=3, alpha=0.25, color=line.get_color())


def training_curves(
    history: Sequence[Mapping[str, Any]],
    panels: Mapping[str, str],
    path: Any,
    accuracies: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
) -> Any:
    """Save one panel per logged metric (``panels``: log key -> title) over the training steps and, when given, a
    last panel of greedy accuracy before and after (``accuracies``: family -> {"start"/"final": a block with
    ``accuracy``, ``ci_low``, ``ci_high``}, as ``latro_trl.evaluation`` returns them). Returns ``path``, or ``None``
    without matplotlib."""
    plt = pyplot()
    if plt is None:
        return None
    steps = [entry for entry in history if all(key in entry for key in panels)]
    fig, axes = plt.subplots(1, len(panels) + bool(accuracies), figsize=(4.2 * (len(panels) + bool(accuracies)), 3.5))
    for ax, (key, title) in zip(axes, panels.items(), strict=False):
        raw_and_smoothed(ax, [entry["step"] for entry in steps], [float(entry[key]) for entry in steps])
        ax.set_title(title)
        ax.set_xlabel("step")
    if accuracies:
        _accuracy_panel(axes[-1], accuracies)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _accuracy_panel(ax: Any, accuracies: Mapping[str, Mapping[str, Mapping[str, float]]]) -> None:
    for offset, (family, blocks) in enumerate(accuracies.items()):
        stages = list(blocks)
        x = [i + 0.06 * offset for i in range(len(stages))]
        points = [100 * blocks[stage]["accuracy"] for stage in stages]
        below = [p - 100 * blocks[stage]["ci_low"] for p, stage in zip(points, stages, strict=True)]
        above = [100 * blocks[stage]["ci_high"] - p for p, stage in zip(points, stages, strict=True)]
        ax.errorbar(x, points, yerr=[below, above], marker="o", capsize=4, label=family)
        for xi, point in zip(x, points, strict=True):
            ax.annotate(f"{point:.1f}", (xi, point), textcoords="offset points", xytext=(6, 0), fontsize=8)
        ax.set_xticks(range(len(stages)), stages)
    ax.set_xlim(-0.4, len(stages) - 0.6)
    ax.set_title("greedy accuracy, % (95% interval)")
    ax.legend(fontsize=8)
