"""Named data sets for the command line: one place maps `--dataset` to a loader and an answer type."""

from __future__ import annotations

from dataclasses import dataclass, field

TASKS = ("gsm8k", "arc_challenge", "synthetic")


@dataclass
class DatasetArguments:
    """Which data set to train or evaluate on.

    Args:
        dataset_name: `gsm8k`, `arc_challenge`, `synthetic` (offline arithmetic word problems), or a local
            `.jsonl`/`.json` file with `prompt` and `answer` columns.
        dataset_path: local folder (or file) holding the original-format split files of GSM8K / ARC-Challenge;
            unset: download `openai/gsm8k` / `allenai/ai2_arc` from the Hugging Face Hub.
        dataset_train_split, dataset_test_split: split names.
        max_train_samples, max_eval_samples: keep the first N rows.
        synthetic_seed, synthetic_min_steps, synthetic_max_steps, synthetic_max_value: knobs of the offline generator.
    """

    dataset_name: str = field(
        default="synthetic",
        metadata={"help": "gsm8k, arc_challenge, synthetic, or a local .jsonl with 'prompt' and 'answer' columns."},
    )
    dataset_path: str | None = field(
        default=None, metadata={"help": "Local folder/file with GSM8K or ARC-Challenge in their original format."}
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Training split."})
    dataset_test_split: str = field(default="test", metadata={"help": "Evaluation split."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N evaluation rows."})
    synthetic_seed: int = field(default=0, metadata={"help": "Seed of the synthetic problem generator."})
    synthetic_min_steps: int = field(default=2, metadata={"help": "Fewest arithmetic steps per synthetic problem."})
    synthetic_max_steps: int = field(default=3, metadata={"help": "Most arithmetic steps per synthetic problem."})
    synthetic_max_value: int = field(default=20, metadata={"help": "Largest starting number in synthetic problems."})


def task_type(dataset_name: str) -> str:
    """``"choice"`` for multiple choice (ARC), ``"number"`` otherwise."""
    return "choice" if dataset_name == "arc_challenge" else "number"


def load_split(args: DatasetArguments, split: str, limit: int | None, default_size: int = 2000):
    """Load one split of the named data set as a `datasets.Dataset` with `prompt` and `answer` columns."""
    from latro_trl.data import load_arc, load_gsm8k, load_synthetic

    if args.dataset_name == "gsm8k":
        return load_gsm8k(split, path=args.dataset_path, limit=limit)
    if args.dataset_name == "arc_challenge":
        return load_arc(split, path=args.dataset_path, limit=limit)
    if args.dataset_name == "synthetic":
        return load_synthetic(
            split,
            n=limit or default_size,
            seed=args.synthetic_seed,
            min_steps=args.synthetic_min_steps,
            max_steps=args.synthetic_max_steps,
            max_value=args.synthetic_max_value,
        )
    if args.dataset_name.endswith((".jsonl", ".json")):
        from datasets import load_dataset

        dataset = load_dataset("json", data_files=args.dataset_name, split="train")
        return dataset.select(range(min(limit, len(dataset)))) if limit else dataset
    raise ValueError(
        f"Unknown dataset_name={args.dataset_name!r}: use one of {', '.join(TASKS)}, or a local .jsonl file with "
        "'prompt' and 'answer' columns."
    )
