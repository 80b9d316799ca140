"""The data set flags every command shares; the names resolve in `latro_trl.data.registry`."""

from __future__ import annotations

from dataclasses import dataclass, field

from latro_trl.data.registry import DATA_SOURCES

DATASET_NAME_HELP = (
    "; ".join(f"{name} ({entry.about})" for name, entry in DATA_SOURCES.items())
    + "; or a local .jsonl file with 'prompt' and 'answer' columns."
)
ANSWER_FORMATS = ("label", "label_text", "text")


@dataclass
class DatasetArguments:
    """Which data set to train or evaluate on: the flags `latro train`, `latro eval` and the SFT baseline share.

    Args:
        dataset_name: `gsm8k`, `arc_challenge`, `synthetic` (offline arithmetic word problems), or a local
            `.jsonl`/`.json` file with `prompt` and `answer` columns.
        dataset_path: local folder (or file) holding the original-format split files of GSM8K / ARC-Challenge;
            unset: download `openai/gsm8k` / `allenai/ai2_arc` from the Hugging Face Hub.
        answer_format: ARC only: how the gold answer is written in `"The answer is {answer}."`: `label` (`B`),
            `label_text` (`B) blue`) or `text` (the option's text, the paper's choice).
        synthetic_seed, synthetic_min_steps, synthetic_max_steps, synthetic_max_value: knobs of the offline generator.
    """

    dataset_name: str = field(default="synthetic", metadata={"help": DATASET_NAME_HELP})
    dataset_path: str | None = field(
        default=None, metadata={"help": "Local folder/file with GSM8K or ARC-Challenge in their original format."}
    )
    answer_format: str = field(
        default="label",
        metadata={"help": "ARC only: the gold answer as 'label', 'label_text' or 'text' (the paper's)."},
    )
    synthetic_seed: int = field(default=0, metadata={"help": "Seed of the synthetic problem generator."})
    synthetic_min_steps: int = field(default=2, metadata={"help": "Fewest arithmetic steps per synthetic problem."})
    synthetic_max_steps: int = field(default=3, metadata={"help": "Most arithmetic steps per synthetic problem."})
    synthetic_max_value: int = field(default=20, metadata={"help": "Largest starting number in synthetic problems."})

    def __post_init__(self) -> None:
        from latro_trl.data.registry import is_local_file, source

        if not is_local_file(self.dataset_name):
            source(self.dataset_name)  # an unknown name fails here, with the choices
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(
                f"--answer_format {self.answer_format!r} is not one of {', '.join(ANSWER_FORMATS)}; use 'text' for "
                "the paper's setting."
            )

    def load(self, split: str, limit: int | None):
        """One split as a `datasets.Dataset` with `prompt` and `answer` columns (see `latro_trl.data.registry`)."""
        from latro_trl.data.registry import load_named

        synthetic = {
            "seed": self.synthetic_seed,
            "min_steps": self.synthetic_min_steps,
            "max_steps": self.synthetic_max_steps,
            "max_value": self.synthetic_max_value,
        }
        return load_named(
            self.dataset_name,
            split,
            path=self.dataset_path,
            limit=limit,
            answer_format=self.answer_format,
            synthetic=synthetic,
        )
