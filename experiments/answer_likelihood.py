"""Is a model ready for LaTRO? Its log-likelihood of the gold answer after no rationale, the gold one and its own.

LaTRO rewards a sampled rationale z with log pi(y | x + z). If the model's own rationales make the gold answer *less*
likely than answering at once (an empty z), the leave-one-out baseline favours the shortest rationales and training
drifts toward answering without reasoning; that is what happened to the embedded 135M model in docs/results.md.
This script measures the three quantities on a few questions (forward passes, plus K samples per question):

    python experiments/answer_likelihood.py --n 40 --num_generations 4             # synthetic problems
    python experiments/answer_likelihood.py --model_name_or_path <hub id> --dataset_name gsm8k \
        --dataset_path ../shared/data/gsm8k

It prints the mean over questions of log pi(y | x + z) for z = empty, z = the gold rationale (when the data set has
a ``rationale`` column) and z = the model's own samples cut at the first stop marker, as the trainer cuts them.

The run is read as ``latro train`` reads it, with TRL's ``TrlParser``: LaTROConfig's ``--num_generations`` (K own
rationales per question), ``--max_completion_length`` (L) and ``--seed``, ModelConfig's ``--model_name_or_path``,
the data set flags of ``latro train`` (``--dataset_name``, ``--dataset_path``, the synthetic generator's knobs) and
:class:`LikelihoodArguments`; the defaults are ``experiments/recipes/answer_likelihood.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import torch

# experiments/ is on sys.path when this file runs as a script (and the tests put it there).
from compare import parse_experiment

from latro_trl.cli.datasets import DatasetArguments


@dataclass
class LikelihoodArguments(DatasetArguments):
    """What the measurement adds to the data set flags and the run's config (LaTROConfig: K, L, the seed;
    ModelConfig: the model). Defaults: experiments/recipes/answer_likelihood.yaml."""

    adapter: str | None = field(default=None, metadata={"help": "A PEFT adapter folder applied on the model."})
    split: str = field(default="train", metadata={"help": "The split the questions come from."})
    n: int = field(default=40, metadata={"help": "The first N questions of the split."})


def parse_args(argv: Sequence[str] | None = None) -> tuple:
    """``(LikelihoodArguments, LaTROConfig, ModelConfig)``."""
    return parse_experiment(LikelihoodArguments, "answer_likelihood.yaml", argv, __doc__)


@torch.no_grad()
def answer_logp(model, tokenizer, prompt_text: str, rationale: str, answer: str) -> float:
    """log pi(y | x + z) with y written as the trainer writes it (template, then the end of the turn)."""
    from latro_trl.markers import answer_text, turn_end_text

    context = tokenizer(prompt_text + rationale, add_special_tokens=False)["input_ids"]
    y = answer_text(answer, after=rationale) + turn_end_text(tokenizer, True)
    target = tokenizer(y, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([context + target])
    logps = model(ids).logits[0, :-1].float().log_softmax(-1).gather(-1, ids[0, 1:, None])[:, 0]
    return logps[len(context) - 1 :].sum().item()


def own_rationale(tokenizer, reply_text: str) -> str:
    """The rationale the trainer would keep of a reply: ``cut_rationale`` at the default stop markers."""
    from latro_trl.markers import STOP_MARKERS
    from latro_trl.sequences import cut_rationale

    ids = tokenizer(reply_text, add_special_tokens=False)["input_ids"]
    decode = partial(tokenizer.decode, skip_special_tokens=False)
    cut = cut_rationale(ids, decode=decode, stop_markers=STOP_MARKERS, end_token_ids=[], max_length=len(ids) + 1)
    return decode(cut.ids)


def main(argv: Sequence[str] | None = None) -> int:
    from latro_trl.evaluation import generate_replies, load_model_for_eval, render_prompt

    args, config, model_args = parse_args(argv)
    model, tokenizer = load_model_for_eval(model_args.model_name_or_path, adapter=args.adapter)
    model.eval()
    rows = list(args.load(args.split, limit=args.n))
    samples = generate_replies(
        model,
        tokenizer,
        [row["prompt"] for row in rows],
        num_return_sequences=config.num_generations,
        do_sample=True,
        max_new_tokens=config.max_completion_length,
        batch_size=32,
        seed=config.seed,
        progress=True,
    )
    totals = {"empty": [], "gold": [], "own": []}
    for row, replies in zip(rows, samples, strict=True):
        prompt_text = render_prompt(tokenizer, row["prompt"])[0]
        totals["empty"].append(answer_logp(model, tokenizer, prompt_text, "", row["answer"]))
        if "rationale" in row:
            totals["gold"].append(answer_logp(model, tokenizer, prompt_text, row["rationale"], row["answer"]))
        own = [
            answer_logp(model, tokenizer, prompt_text, own_rationale(tokenizer, r.text), row["answer"]) for r in replies
        ]
        totals["own"].append(sum(own) / len(own))
    print(f"mean log pi(y | x + z) over {len(rows)} questions ({config.num_generations} own rationales each):")
    for name, values in totals.items():
        if values:
            print(f"  z = {name:5s}: {sum(values) / len(values):8.2f} nats")
    better = sum(o > e for o, e in zip(totals["own"], totals["empty"], strict=True))
    print(f"own rationales beat answering at once on {better} of {len(rows)} questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
