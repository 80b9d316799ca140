"""latro demo's printed table: start/final accuracy with the paired test, and training summarised over quarters."""

import math

import pytest

from latro_trl.cli.demo import _report


def _family(correct: list[bool]) -> dict:
    n, right = len(correct), sum(correct)
    block = {"accuracy": right / n, "ci_low": 0.0, "ci_high": 1.0, "n": n}
    return {"greedy": block, "correct": correct}


def test_the_training_rows_compare_the_first_and_last_quarter_means(capsys) -> None:
    before = {"test": _family([True, False, False, False]), "reworded": _family([False] * 4)}
    after = {"test": _family([True, True, True, False]), "reworded": _family([False, True, False, False])}
    history = [
        {"step": s, "reward": float(s), "answer_logp": -float(s), "rationale/mean_length": 10.0} for s in range(1, 9)
    ]
    history[0]["reward"] = math.nan  # a step whose rewards were all non-finite is left out of its mean
    history.append({"step": 8, "train_runtime": 1.0})
    rows = _report(before, after, history, 60.0)["rows"]
    assert rows["reward"]["first"] == 2.0 and rows["reward"]["last"] == pytest.approx(7.5)  # steps 1-2, 7-8
    assert rows["log pi(y|x+z)"]["first"] == -1.5 and rows["reward"]["steps_per_mean"] == 2
    assert rows["worded like training"]["mcnemar"]["only_second"] == 2
    assert "mean of steps 1-2 -> 7-8" in capsys.readouterr().out
