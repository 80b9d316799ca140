"""`latro train`: LaTRO on a named data set, every LaTROConfig field settable by flag or YAML (`--config`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .datasets import DatasetArguments


@dataclass
class TrainArguments(DatasetArguments):
    """What `latro train` adds to the data set choice.

    Args:
        eval_accuracy_steps: measure greedy accuracy on the evaluation split every N steps (0: never).
        eval_max_new_tokens: reply limit for that evaluation (``None``: the run's ``max_completion_length`` + 32).
        init_adapter: a PEFT adapter merged into the model before training (a warm start).
    """

    eval_accuracy_steps: int = field(
        default=0, metadata={"help": "Greedy accuracy on the eval split every N steps (0 = off)."}
    )
    eval_max_new_tokens: int | None = field(
        default=None,
        metadata={"help": "Reply limit of the accuracy evaluation (default: max_completion_length + 32)."},
    )
    init_adapter: str | None = field(
        default=None,
        metadata={
            "help": "Warm start: a PEFT adapter folder (e.g. from examples/sft_baseline.py) merged into the model "
            "before LaTRO. The frozen reference is then the warm-started model. For a merged SFT checkpoint, pass "
            "its folder as --model_name_or_path instead; under ZeRO-3, merge first (latro_trl.models.save_merged) "
            "and pass that folder, so that the reference is loaded sharded too."
        },
    )


def make_parser(subparsers=None):
    from trl import ModelConfig, TrlParser

    from latro_trl import LaTROConfig

    dataclass_types = (TrainArguments, LaTROConfig, ModelConfig)
    if subparsers is not None:
        return subparsers.add_parser("train", help="Train with LaTRO.", dataclass_types=dataclass_types)
    return TrlParser(dataclass_types)


def main(script_args: TrainArguments, training_args, model_args) -> int:
    """Load model and data, train, save. Heavy imports live here so `latro --help` stays fast."""
    from trl import get_peft_config

    from latro_trl import LaTROTrainer
    from latro_trl.cli.datasets import load_split, task_type
    from latro_trl.models import model_for_trainer

    train_dataset = load_split(script_args, script_args.dataset_train_split, script_args.max_train_samples)
    eval_dataset = None
    if script_args.eval_accuracy_steps:
        eval_dataset = load_split(script_args, script_args.dataset_test_split, script_args.max_eval_samples or 100)

    model, tokenizer = model_for_trainer(model_args, training_args, init_adapter=script_args.init_adapter)

    trainer = LaTROTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    if eval_dataset is not None:
        from latro_trl.evaluation import AccuracyCallback

        AccuracyCallback(
            eval_dataset,
            every_n_steps=script_args.eval_accuracy_steps,
            max_new_tokens=script_args.eval_max_new_tokens,
            task=task_type(script_args.dataset_name),
        ).attach(trainer)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    return 0


def run(argv: list[str]) -> int:
    script_args, training_args, model_args = make_parser().parse_args_and_config(args=argv)
    return main(script_args, training_args, model_args)
