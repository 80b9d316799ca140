"""Is a model ready for LaTRO? Its log-likelihood of the gold answer after no rationale, the gold one and its own.

LaTRO rewards a sampled rationale z with log pi(y | x + z). If the model's own rationales make the gold answer *less*
likely than answering at once (an empty z), the leave-one-out baseline favours the shortest rationales and training
drifts toward answering without reasoning; that is what happened to the embedded 135M model in docs/results.md.
This script measures the three quantities on a few questions (forward passes, plus K samples per question):

    python experiments/answer_likelihood.py --n 40 --num_samples 4                 # synthetic problems
    python experiments/answer_likelihood.py --model_name_or_path <hub id> --gsm8k_path ../shared/data/gsm8k

It prints the mean over questions of log pi(y | x + z) for z = empty, z = the gold rationale (when the data set has
a ``rationale`` column) and z = the model's own samples cut at the first stop marker, as the trainer cuts them.
"""

from __future__ import annotations

import argparse
from functools import partial

import torch


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model_name_or_path", default=None, help="hub id or folder; default: the embedded SmolLM2-135M"
    )
    parser.add_argument("--adapter", default=None, help="a PEFT adapter folder to apply on --model")
    parser.add_argument("--split", default="train")
    parser.add_argument(
        "--gsm8k_path", default=None, help="folder with GSM8K's jsonl files; default: synthetic problems"
    )
    parser.add_argument("--n", type=int, default=40, help="the first N questions of the split")
    parser.add_argument("--synthetic_min_steps", type=int, default=1)
    parser.add_argument("--synthetic_max_steps", type=int, default=2)
    parser.add_argument("--num_samples", type=int, default=4, help="own rationales per question (K)")
    parser.add_argument("--max_completion_length", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


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


def main(argv=None) -> int:
    from latro_trl.data.registry import load_named, source
    from latro_trl.evaluation import generate_replies, load_model_for_eval, render_prompt

    args = parse_args(argv)
    model, tokenizer = load_model_for_eval(args.model_name_or_path, adapter=args.adapter)
    model.eval()
    name = "gsm8k" if args.gsm8k_path else "synthetic"
    knobs = {"seed": args.seed, "min_steps": args.synthetic_min_steps, "max_steps": args.synthetic_max_steps}
    options = source(name).pick_options(knobs)  # the knobs the chosen source's loader takes
    rows = list(load_named(name, args.split, path=args.gsm8k_path, limit=args.n, **options))
    samples = generate_replies(
        model,
        tokenizer,
        [row["prompt"] for row in rows],
        num_return_sequences=args.num_samples,
        do_sample=True,
        max_new_tokens=args.max_completion_length,
        batch_size=32,
        seed=args.seed,
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
    print(f"mean log pi(y | x + z) over {len(rows)} questions ({args.num_samples} own rationales each):")
    for name, values in totals.items():
        if values:
            print(f"  z = {name:5s}: {sum(values) / len(values):8.2f} nats")
    better = sum(o > e for o, e in zip(totals["own"], totals["empty"], strict=True))
    print(f"own rationales beat answering at once on {better} of {len(rows)} questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
