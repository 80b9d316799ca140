"""latro_trl.plots: the moving average by hand, and a training-curves figure from a log history."""

import math

import pytest

from latro_trl.plots import moving_average, smoothing_window, training_curves


def test_moving_average_by_hand() -> None:
    assert moving_average([1, 2, 3, 4, 5], 3) == [1.5, 2.0, 3.0, 4.0, 4.5]  # windows shrink at the ends
    assert moving_average([0, 10, 0, 10], 1) == [0, 10, 0, 10]
    smoothed = moving_average([1, math.nan, 3, math.nan, math.nan, math.nan], 3)  # non-finite values skipped
    assert smoothed[:4] == [1.0, 2.0, 3.0, 3.0] and math.isnan(smoothed[4]) and math.isnan(smoothed[5])
    with pytest.raises(ValueError, match="odd"):
        moving_average([1, 2], 2)


def test_smoothing_window_is_odd_and_grows_with_the_curve() -> None:
    assert [smoothing_window(n) for n in (2, 24, 48, 96)] == [3, 5, 9, 17]


def test_training_curves_saves_a_figure_with_an_accuracy_panel(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    history = [{"step": s, "reward": -s % 7, "answer_logp": -s, "loss": 1.0} for s in range(1, 25)]
    history.append({"step": 24, "train_runtime": 1.0})  # the trainer's summary entry has no curve values
    block = {"accuracy": 0.5, "ci_low": 0.4, "ci_high": 0.6}
    path = training_curves(
        history, {"reward": "reward", "answer_logp": "log p"}, tmp_path / "c.png", {"test": {"start": block}}
    )
    assert path == tmp_path / "c.png" and path.stat().st_size > 10_000
