"""Zero-shot accuracy of a model on a data set in the package's columns: greedy and maj@k, with JSONL output.

Never imports the trainer: it runs on a base model, a fully trained checkpoint or a PEFT adapter alike (see
:func:`~latro_trl.models.load_model_for_eval`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .generation import Reply, default_max_new_tokens, generate_replies, render_prompt
from .grading import Task, answer_markers, answers_match, gold_answers, score_reply
from .statistics import majority_vote, summarize


def run_settings(run: Any) -> dict[str, Any]:
    """What :func:`evaluate` takes from the training run it measures, as its keyword arguments.

    ``answer_column``, ``stop_markers`` and ``answer_template`` are the run's, and ``max_new_tokens`` is its rationale
    limit plus the answer's room (:func:`~latro_trl.evaluation.generation.default_max_new_tokens`). Each is read by
    name from ``run`` (a ``LaTROConfig``, or any arguments object: a name it lacks gets the package's default), so the
    evaluation never imports the config. ``latro eval``, ``latro demo`` and :class:`AccuracyCallback` all pass these.

    Example:
        >>> from types import SimpleNamespace
        >>> run_settings(SimpleNamespace(answer_column="solution", max_completion_length=100))["max_new_tokens"]
        132
    """
    return {
        "answer_column": getattr(run, "answer_column", None) or "answer",
        "stop_markers": getattr(run, "stop_markers", None),
        "answer_template": getattr(run, "answer_template", None),
        "max_new_tokens": default_max_new_tokens(getattr(run, "max_completion_length", None)),
    }


def _rates(replies: Sequence[Reply], answers: Sequence[str | None]) -> dict[str, float]:
    return {
        "no_answer_rate": sum(answer is None for answer in answers) / len(answers),
        "finished_rate": sum(reply.finished for reply in replies) / len(replies),
        "mean_tokens": sum(reply.num_tokens for reply in replies) / len(replies),
    }


def evaluate(
    model: Any,
    tokenizer: Any,
    dataset: Any,
    *,
    task: Task = "number",
    num_samples: int = 1,
    greedy: bool = True,
    max_new_tokens: int | None = None,
    batch_size: int = 16,
    output_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    progress: bool = True,
    answer_column: str = "answer",
    stop_markers: Sequence[str] | None = None,
    answer_template: str | None = None,
) -> dict[str, Any]:
    """Measure greedy accuracy and/or maj@k of a model.

    Prompts come from the ``prompt`` column (conversations go through the tokenizer's chat template with the
    generation prompt, so they carry the training trigger; plain strings are used as they are). Replies stop at
    EOS / end of turn or ``max_new_tokens``. Answers are parsed with :mod:`latro_trl.data.answers`.

    Args:
        model: a causal LM, a trained checkpoint or a PEFT model; put in eval mode and restored afterwards.
        tokenizer: its tokenizer.
        dataset: a :class:`datasets.Dataset` (or list of dicts) with ``prompt`` and ``answer`` (and ``choices`` /
            ``answer_label`` for ``task="choice"``).
        task: ``"number"`` (numeric answers) or ``"choice"`` (multiple choice; the gold is ``answer_label``, else
            ``answer``).
        num_samples: k for maj@k: k replies per question sampled at temperature 1 (no top-k/top-p, no penalties:
            the model's own ``generation_config`` is ignored) and a majority vote over their parsed answers (ties: the
            earliest). With ``num_samples=1`` and ``greedy=False``, plain single-sample accuracy is reported as
            ``maj@1``.
        greedy: also decode greedily and report greedy accuracy.
        max_new_tokens: the reply length limit. ``None`` (default): the training rationale limit
            (``LaTROConfig.max_completion_length``'s default, 500) plus 32 tokens for the answer sentence, so a model
            trained at that limit is not cut short; pass your run's ``max_completion_length + 32`` if it differs.
        batch_size: sequences per ``generate`` call.
        output_dir: if given, write ``predictions.jsonl`` (one line per question: prompt, gold, greedy rationale,
            parsed answer, correctness, the k samples' rationales and answers, the majority answer) and
            ``summary.json``. Finished generation batches are kept in ``output_dir/partial/`` until then, so an
            evaluation stopped part way and started again with the same arguments resumes there (same results).
        seed: the sampling seed (the caller's random state is left untouched).
        progress: show progress bars.
        answer_column: the column with the gold answer (a training run's ``LaTROConfig.answer_column``).
        stop_markers, answer_template: a training run's settings of that name; answers are read after its markers
            (see :func:`answer_markers`). ``None``: the package's defaults; ``stop_markers=[]``: no markers.

    Returns:
        The summary: ``task``, ``num_examples``, ``num_samples``, ``max_new_tokens``, ``seed``, ``elapsed_s`` and,
        per decoding mode (``"greedy"``, ``"maj@k"``), ``accuracy``, ``correct``, ``n``, ``ci_low``/``ci_high`` (95%
        Wilson interval), ``no_answer_rate``, ``finished_rate``, ``mean_tokens``; ``maj@k`` adds
        ``sample_accuracy`` (the mean accuracy of single samples).

    Example:
        >>> from latro_trl.data import load_synthetic
        >>> from latro_trl.evaluation import evaluate, load_model_for_eval
        >>> model, tokenizer = load_model_for_eval()  # doctest: +SKIP
        >>> summary = evaluate(model, tokenizer, load_synthetic("test", n=50), num_samples=8)  # doctest: +SKIP
        >>> summary["greedy"]["accuracy"], summary["maj@8"]["accuracy"]  # doctest: +SKIP
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    rows = list(dataset)
    golds = gold_answers(rows, task, answer_column)
    markers = answer_markers(stop_markers, answer_template)
    score = functools.partial(score_reply, task=task, answer_column=answer_column, markers=markers)
    if max_new_tokens is None:
        max_new_tokens = default_max_new_tokens()
    prompts = [row["prompt"] for row in rows]
    records: list[dict[str, Any]] = [
        {"index": i, "prompt": render_prompt(tokenizer, prompt)[0], "gold": gold}
        for i, (prompt, gold) in enumerate(zip(prompts, golds, strict=True))
    ]
    for record, row in zip(records, rows, strict=True):
        if "question" in row:
            record["question"] = row["question"]
    summary: dict[str, Any] = {
        "task": task,
        "num_examples": len(rows),
        "num_samples": num_samples,
        "max_new_tokens": max_new_tokens,
        "seed": seed,
    }
    generation = {"max_new_tokens": max_new_tokens, "batch_size": batch_size, "seed": seed, "progress": progress}
    # With an output folder, finished batches are logged there so that a stopped evaluation resumes (see BatchLog).
    partial = None if output_dir is None else Path(output_dir) / "partial"
    was_training = model.training
    started = time.perf_counter()
    model.eval()
    try:
        if greedy:
            resume = None if partial is None else partial / "greedy.jsonl"
            replies = generate_replies(model, tokenizer, prompts, desc="greedy", resume_file=resume, **generation)
            replies = [r[0] for r in replies]
            scored = [score(reply.text, row) for reply, row in zip(replies, rows, strict=True)]
            for record, reply, (answer, correct) in zip(records, replies, scored, strict=True):
                record.update(rationale=reply.text, answer=answer, correct=correct, finished=reply.finished)
            summary["greedy"] = {**summarize([c for _, c in scored]), **_rates(replies, [a for a, _ in scored])}
        if num_samples > 1 or not greedy:
            resume = None if partial is None else partial / f"maj@{num_samples}.jsonl"
            summary[f"maj@{num_samples}"] = _sampled(
                model, tokenizer, rows, records, score, task, num_samples, {**generation, "resume_file": resume}
            )
    finally:
        model.train(was_training)
    summary["elapsed_s"] = round(time.perf_counter() - started, 3)
    if output_dir is not None:
        _write(Path(output_dir), records, summary)
        shutil.rmtree(partial, ignore_errors=True)
    return summary


def _sampled(
    model: Any,
    tokenizer: Any,
    rows: list[Mapping[str, Any]],
    records: list[dict[str, Any]],
    score: Callable[[str, Mapping[str, Any]], tuple[str | None, bool]],
    task: Task,
    k: int,
    generation: dict[str, Any],
) -> dict[str, Any]:
    """maj@k: sample k replies per question, vote, fill the records; returns the block for the summary."""
    groups = generate_replies(
        model,
        tokenizer,
        [row["prompt"] for row in rows],
        num_return_sequences=k,
        do_sample=True,
        desc=f"maj@{k}",
        **generation,
    )
    majority_correct, sample_correct, all_replies, all_answers = [], [], [], []
    for record, row, replies in zip(records, rows, groups, strict=True):
        scored = [score(reply.text, row) for reply in replies]
        answers = [answer for answer, _ in scored]
        majority = majority_vote(answers)
        correct = answers_match(majority, record["gold"], task)
        record.update(
            sample_rationales=[r.text for r in replies],
            sample_answers=answers,
            majority_answer=majority,
            majority_correct=correct,
        )
        majority_correct.append(correct)
        sample_correct.extend(c for _, c in scored)
        all_replies.extend(replies)
        all_answers.extend(answers)
    block = summarize(majority_correct)
    block["sample_accuracy"] = sum(sample_correct) / len(sample_correct)
    return {**block, **_rates(all_replies, all_answers)}


def read_predictions(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The per-question records :func:`evaluate` wrote to ``directory/predictions.jsonl`` (e.g. for a paired test)."""
    with open(Path(directory) / "predictions.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _write(directory: Path, records: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "predictions.jsonl", "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(directory / "summary.json", "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
        handle.write("\n")
