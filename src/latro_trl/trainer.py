"""LaTROTrainer: TRL's RLOOTrainer with LaTRO's rewards and loss.

What we inherit from RLOOTrainer unchanged: data loading with each prompt repeated K times (``RepeatSampler``),
prompt tokenization with the chat template, generation (transformers, continuous batching, vLLM), PEFT, DeepSpeed /
FSDP wrapping, the chunked log-prob head, logging, checkpoints and the model card. What we override, each in one
short method:

- ``__init__``: no reward functions; a reference model for in-memory models; stop markers for generation.
- ``_generate_single_turn``: the transformers path passes the tokenizer so generation stops at stop markers.
- ``_generate_and_score_completions``: cut rationales, append the gold answer, score ``x+z+y`` with the policy (one
  pass) and the reference (one pass), compute self-rewards and RLOO advantages (``objective.py``).
- ``_compute_loss``: one forward pass over ``x+z+y`` with gradient, then ``objective.latro_loss``.

Both passes go through ``_completion_logps``, which runs TRL's log-prob head once per group of rows of similar
length, each trimmed of its padding (``LaTROConfig.length_groups``).
"""

from __future__ import annotations

import copy
import functools
import logging
import textwrap

import torch
from accelerate.utils import gather, gather_object, is_peft_model
from transformers import PreTrainedModel, ProcessorMixin
from transformers.generation import StoppingCriteriaList, StopStringCriteria
from trl import RLOOTrainer

from . import execution
from .callbacks import SaveOnInterruptCallback
from .config import LaTROConfig, as_latro_config
from .markers import answer_text, turn_end_text
from .models import frozen_copy
from .objective import (
    answer_rewards,
    answer_term_weights,
    latro_loss,
    latro_rewards,
    penalize_unfinished,
    rloo_advantages,
    sequence_logps,
)
from .sampling import hide_model_generation_config, sample_pruned
from .sequences import (
    RationaleCut,
    assemble_scoring_batch,
    cut_rationale,
    length_groups,
    strip_generation_padding,
)
from .trl_compat import (
    SyncRefModelCallback,
    add_fused_lm_head,
    check_installed_trl,
    disable_dropout_in_model,
    disable_gradient_checkpointing,
    is_conversational,
    pad,
    prepare_deepspeed,
    prepare_fsdp,
    unwrap_model_for_generation,
    use_adapter,
)
from .validation import (
    check_chat_template,
    check_datasets,
    check_enough_rows,
    check_prompt_lengths,
    check_stop_markers,
    named_datasets,
    require_answer,
)

logger = logging.getLogger(__name__)


class LaTROTrainer(RLOOTrainer):
    """
    Trainer for LaTRO (LaTent Reasoning Optimization), from [Language Models are Hidden Reasoners: Unlocking Latent
    Reasoning Capabilities via Self-Rewarding](https://huggingface.co/papers/2411.04282).

    For each question ``x`` with gold answer ``y`` it samples K rationales ``z`` from the policy, rewards each with
    ``log pi(y|x+z) - beta * KL``, and minimises ``-mean[A * log pi(z|x) + lambda * log pi(y|x+z)]`` with
    leave-one-out advantages ``A``. No reward model or verifier: only (question, answer) pairs.

    Example:

    ```python
    >>> from datasets import Dataset
    >>> from latro_trl import LaTROConfig, LaTROTrainer

    >>> dataset = Dataset.from_list(
    ...     [{"prompt": [{"role": "user", "content": "Tom has 3 apples and buys 5. How many? Think step by step."}],
    ...       "answer": "8"}]
    ... )
    >>> trainer = LaTROTrainer(
    ...     model="HuggingFaceTB/SmolLM2-135M-Instruct",
    ...     args=LaTROConfig(output_dir="smollm2-latro", num_generations=4, per_device_train_batch_size=4),
    ...     train_dataset=dataset,
    ... )
    >>> trainer.train()
    ```

    Args:
        model (`str`, [`~transformers.PreTrainedModel`] or [`~peft.PeftModel`]):
            The policy, as for [`~trl.RLOOTrainer`]. A model object (built in memory, loaded from GGUF, ...) is fine:
            the frozen reference is then a copy of it, not re-loaded from its hub id.
        reward_funcs (*optional*):
            Accepted so that LaTROTrainer drops into RLOO/GRPO scripts, and ignored with a warning: LaTRO's reward is
            the model's own answer log-likelihood.
        args ([`LaTROConfig`], *optional*):
            Configuration. An [`~trl.RLOOConfig`] is converted (its values kept, LaTRO's fields at their defaults).
        train_dataset ([`~datasets.Dataset`] or [`~datasets.IterableDataset`]):
            Rows with a `prompt` (text or conversation) and the gold answer in `args.answer_column` (`"answer"`).
        eval_dataset, processing_class, callbacks, optimizers, peft_config, quantization_config:
            As for [`~trl.RLOOTrainer`].
        ref_model ([`~transformers.PreTrainedModel`], *optional*):
            The frozen reference pi_0. Defaults to the initial policy: a frozen copy of it; with a new `peft_config`,
            the model with the new adapters off; for a [`~peft.PeftModel`] that already carries a trained adapter
            (a warm start), a frozen copy of that adapter. Not used when `beta == 0`. To warm-start from an SFT
            adapter with a fresh LoRA, merge it first (`latro_trl.models.merge_adapter`).
    """

    _tag_names = ["trl", "latro"]
    _name = "LaTRO"
    _paper = {
        "title": "Language Models are Hidden Reasoners: Unlocking Latent Reasoning Capabilities via Self-Rewarding",
        "id": "2411.04282",
        # docstyle-ignore
        "citation": textwrap.dedent("""\
            @article{chen2024language,
                title        = {{Language Models are Hidden Reasoners: Unlocking Latent Reasoning Capabilities via Self-Rewarding}},
                author       = {Haolin Chen and Yihao Feng and Zuxin Liu and Weiran Yao and Akshara Prabhakar and Shelby Heinecke and Ricky Ho and Phil Mui and Silvio Savarese and Caiming Xiong and Huan Wang},
                year         = 2024,
                journal      = {arXiv preprint arXiv:2411.04282},
            }"""),
    }

    def __init__(
        self,
        model: str | PreTrainedModel,
        reward_funcs=None,
        args: LaTROConfig | None = None,
        train_dataset=None,
        eval_dataset=None,
        processing_class=None,
        reward_processing_classes=None,
        callbacks=None,
        optimizers=(None, None),
        quantization_config=None,
        peft_config=None,
        ref_model: PreTrainedModel | None = None,
    ):
        check_installed_trl(type(self))  # a TRL that moved under our overrides fails here, by name
        # A copy: the trainer adjusts its config (vLLM stop strings, beta hidden from TRL below), never the caller's.
        args = copy.copy(as_latro_config(args, model))
        if reward_funcs:
            logger.warning("LaTROTrainer ignores `reward_funcs`: its reward is the model's own answer log-likelihood.")
        if train_dataset is None:
            raise ValueError("`train_dataset` is required: rows with a 'prompt' and the gold answer.")
        # Rows and columns before TRL touches them; a streamed data set comes back wrapped to check each drawn row.
        train_dataset, eval_dataset = check_datasets(train_dataset, eval_dataset, args.answer_column)

        # RLOOTrainer re-loads its reference from the policy's hub id, which fails for models built in memory or
        # loaded from GGUF. When we can do better (a model object, or a given ref_model), it must not try: hide beta
        # from it and build the reference ourselves after its __init__.
        beta, sync_ref_model = args.beta, args.sync_ref_model
        wants_peft = peft_config is not None or (not isinstance(model, str) and is_peft_model(model))
        own_reference = beta != 0.0 and not wants_peft and (ref_model is not None or not isinstance(model, str))
        if own_reference and ref_model is None:
            ref_model = frozen_copy(model)  # before TRL patches the policy's forward with its log-prob head
        if args.use_vllm and args.stop_generation_at_markers:
            args.generation_kwargs = {
                "stop": list(args.stop_markers),
                "include_stop_str_in_output": True,
                **(args.generation_kwargs or {}),
            }

        if own_reference:
            args.beta, args.sync_ref_model = 0.0, False
        try:
            super().__init__(
                model=model,
                reward_funcs=[],
                args=args,
                train_dataset=train_dataset,
                eval_dataset=eval_dataset,
                processing_class=processing_class,
                reward_processing_classes=None,
                callbacks=callbacks,
                optimizers=optimizers,
                quantization_config=quantization_config,
                peft_config=peft_config,
            )
        finally:
            args.beta, args.sync_ref_model = beta, sync_ref_model
        self.beta = beta
        if own_reference:
            self.ref_model = self._prepare_reference_model(ref_model)
            if sync_ref_model:
                self.add_callback(SyncRefModelCallback(ref_model=self.ref_model, accelerator=self.accelerator))
        elif ref_model is not None:
            logger.warning(
                "`ref_model` is unused: %s",
                "beta == 0 means no KL term."
                if beta == 0.0
                else "with PEFT the reference is the initial model (new adapters off, or a copy of the given one).",
            )

        self.add_callback(SaveOnInterruptCallback())
        parallel = execution.Parallelism.of(self)
        self._score_with_training_pass = execution.score_with_training_pass(args, self.model)
        self._prune_finished_rows = execution.prune_finished_rows(args, self.model, parallel)
        self._length_groups = execution.length_groups(args, parallel)
        self._training_pass_groups = execution.training_pass_groups(args, parallel, self._length_groups)
        if isinstance(self.processing_class, ProcessorMixin):
            raise ValueError("LaTROTrainer supports text-only models; pass a tokenizer as `processing_class`.")
        self._check_inputs(train_dataset, eval_dataset)
        # Built once: transformers would rebuild it (a scan of the whole vocabulary) on every `generate` call. Not
        # built without markers: transformers rejects an empty list of stop strings.
        stop_at_markers = args.stop_generation_at_markers and bool(args.stop_markers)
        self._stop_at_markers = StoppingCriteriaList(
            [StopStringCriteria(self._tokenizer, list(args.stop_markers))] if stop_at_markers else []
        )
        # Token ids that close the answer y: the chat template's end of turn, or EOS for plain-text prompts.
        self._answer_end_ids = {
            conversational: self._tokenizer(turn_end_text(self._tokenizer, conversational), add_special_tokens=False)[
                "input_ids"
            ]
            for conversational in (True, False)
        }

    def _check_inputs(self, train_dataset, eval_dataset) -> None:
        """The checks that need the tokenizer or the resolved batch sizes (rows were checked in ``__init__``)."""
        check_stop_markers(self._tokenizer, self.args.stop_markers)
        check_enough_rows(train_dataset, self.args.generation_batch_size // self.num_generations)
        for name, dataset in named_datasets(train_dataset, eval_dataset):
            check_chat_template(self._tokenizer, next(iter(dataset))["prompt"])
            check_prompt_lengths(dataset, self._tokenizer, self.args.max_prompt_length, self.chat_template_kwargs, name)

    def _prepare_reference_model(self, ref_model: PreTrainedModel):
        ref_model.eval()
        ref_model.requires_grad_(False)
        if self.args.disable_dropout:
            disable_dropout_in_model(ref_model)
        add_fused_lm_head(ref_model, temperature=self.temperature)
        if self.is_deepspeed_enabled:
            return prepare_deepspeed(ref_model, self.accelerator)
        if self.is_fsdp_enabled:
            return prepare_fsdp(ref_model, self.accelerator)
        return self.accelerator.prepare_model(ref_model, evaluation_mode=True)

    def _set_signature_columns_if_needed(self):
        # Keep the answer column when `remove_unused_columns=True`.
        if self._signature_columns is None:
            self._signature_columns = ["prompt", self.args.answer_column]

    # ------------------------------------------------------------------ generation

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations=None):
        if self.use_vllm:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields)
        # transformers fills every field our generation config leaves unset (min_p, typical_p, no_repeat_ngram_size,
        # suppress_tokens, ...) from the model's own generation_config, and TRL's guard against that is a no-op on
        # transformers 5: hide it, so that rationales are samples of the policy itself, as the estimator assumes.
        with hide_model_generation_config(self.model):
            if self.use_transformers_continuous_batching:
                return super()._generate_single_turn(prompt_ids, images, multimodal_fields)
            if self._prune_finished_rows or self.args.stop_generation_at_markers:
                return self._generate_plain(prompt_ids)
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields)

    def _generate_plain(self, prompt_ids: list[list[int]]) -> list[list[int]]:
        """The plain transformers path: stop each rationale at its marker, and (``prune_finished_rows``) drop
        finished rows from the batch instead of decoding them until the longest row ends."""
        device = self.accelerator.device
        tensors = [torch.tensor(ids) for ids in prompt_ids]
        input_ids = pad(tensors, padding_value=self._tokenizer.pad_token_id, padding_side="left").to(device)
        attention_mask = pad([torch.ones_like(t) for t in tensors], padding_value=0, padding_side="left").to(device)
        with (
            unwrap_model_for_generation(
                self.model_wrapped,
                self.accelerator,
                gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                generation_kwargs=self.generation_kwargs,
                gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
            ) as unwrapped_model,
            torch.no_grad(),
            self._dist.summon_full_params(self.model_wrapped, recurse=False),
        ):
            if self._prune_finished_rows:
                return sample_pruned(
                    unwrapped_model,
                    input_ids,
                    attention_mask,
                    max_new_tokens=self.max_completion_length,
                    end_token_ids=self.eos_token_ids,
                    temperature=self.temperature,
                    stopping_criteria=list(self._stop_at_markers),
                )
            output = unwrapped_model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                generation_config=self.generation_config,
                stopping_criteria=self._stop_at_markers,
            )
        end_ids, pad_id = self.eos_token_ids, self._tokenizer.pad_token_id
        return [strip_generation_padding(row, end_ids, pad_id) for row in output[:, input_ids.size(1) :].tolist()]

    # ------------------------------------------------------------------ scoring

    def _generate_and_score_completions(self, inputs: list[dict]) -> dict[str, torch.Tensor]:
        mode = "train" if self.model.training else "eval"
        prompts = [example["prompt"] for example in inputs]
        answers = [require_answer(example[self.args.answer_column], self.args.answer_column) for example in inputs]

        prompt_ids, completion_ids, _ = self._generate(prompts)
        cuts = self._cut_rationales(completion_ids)
        rationales = self._tokenizer.batch_decode([cut.ids for cut in cuts], skip_special_tokens=True)
        answer_texts = [
            answer_text(answer, self.args.answer_template, after=rationale)
            for answer, rationale in zip(answers, rationales, strict=True)
        ]
        end_ids = self._answer_end_ids[is_conversational(inputs[0])]
        answer_ids = [ids + end_ids for ids in self._tokenizer(answer_texts, add_special_tokens=False)["input_ids"]]
        batch = assemble_scoring_batch(
            prompt_ids, [cut.ids for cut in cuts], answer_ids, self._tokenizer.pad_token_id, self.accelerator.device
        )
        device = self.accelerator.device
        first_row = self.accelerator.process_index * len(prompts)
        output = {
            **batch._asdict(),
            "finished": torch.tensor([cut.finished for cut in cuts], dtype=torch.long, device=device),
            "hit_marker": torch.tensor([cut.hit_marker for cut in cuts], dtype=torch.long, device=device),
            # Position in the global generation batch: groups of K are contiguous there, and TRL shuffles the rows
            # before they reach the loss, so the loss-side reward computation needs it to restore the groups.
            "row_index": torch.arange(first_row, first_row + len(prompts), device=device),
        }
        self._log_completion_texts(prompts, rationales, answer_texts)

        score_in_loss = mode == "train" and self._score_with_training_pass
        policy_logps, ref_logps = self._score(batch, policy=not score_in_loss)
        if ref_logps is not None:
            output["ref_rationale_logps"] = sequence_logps(ref_logps, batch.rationale_mask)
        if not score_in_loss:
            rationale_logps = sequence_logps(policy_logps, batch.rationale_mask)
            answer_logps = sequence_logps(policy_logps, batch.answer_mask)
            output["advantages"], output["valid"] = self._advantages_and_log(
                output, rationale_logps, answer_logps, mode
            )
        return output

    def _decode(self, ids) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=False)

    def _cut_rationales(self, completion_ids: list[list[int]]) -> list[RationaleCut]:
        """Each sampled completion cut into its rationale ``z`` at the first stop marker or end token."""
        return [
            cut_rationale(
                ids,
                decode=self._decode,
                stop_markers=self.args.stop_markers,
                end_token_ids=self.eos_token_ids,
                max_length=self.max_completion_length,
            )
            for ids in completion_ids
        ]

    @torch.no_grad()
    def _score(self, batch, policy: bool = True) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Per-token log-probs of the completion block (rationale + answer) under the policy and the reference."""
        score = functools.partial(
            self._completion_logps,
            batch=batch._asdict(),
            max_groups=self._length_groups,
            batch_size=self.args.per_device_train_batch_size
            if self.model.training
            else self.args.per_device_eval_batch_size,
        )
        with disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs):
            policy_logps = score(self.model)[0] if policy else None
            if self.beta == 0.0:
                return policy_logps, None
            if self.ref_model is not None:
                return policy_logps, score(self.ref_model)[0]
            # PEFT: the base model with adapters off (or a frozen copy of a pre-trained adapter, named "ref").
            unwrapped = self.accelerator.unwrap_model(self.model)
            with use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None):
                return policy_logps, score(self.model)[0]

    def _completion_logps(
        self,
        model,
        batch: dict,
        max_groups: int,
        batch_size: int | None = None,
        compute_entropy: bool = False,
        compute_aux_loss: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Per-token log-probs (and entropies, aux loss) of the completion block of ``x + z + y``, (N, C) like one
        padded pass, computed as one pass per group of rows of similar length (``length_groups``), each group cut
        down to its own longest prompt and completion: the padding of the batch's longest row is never computed.
        Each group holds at most ``batch_size`` rows (the memory chunk)."""
        prompt_ids, prompt_mask = batch["prompt_ids"], batch["prompt_mask"]
        completion_ids, completion_mask = batch["completion_ids"], batch["completion_mask"]
        prompt_lengths, completion_lengths = prompt_mask.sum(dim=1).tolist(), completion_mask.sum(dim=1).tolist()
        groups = self._forward_groups(prompt_lengths, completion_lengths, max_groups, batch_size)
        width, prompt_width = completion_ids.size(1), prompt_ids.size(1)
        logps, entropies, aux_losses = [], [], []
        for rows in groups:
            index = torch.tensor(rows, device=prompt_ids.device)
            first = prompt_width - max(prompt_lengths[row] for row in rows)  # prompts are left-padded
            kept = max(completion_lengths[row] for row in rows)  # completions are right-padded
            group_logps, group_entropies, aux_loss = self._get_per_token_logps_and_entropies(
                model,
                torch.cat([prompt_ids[index, first:], completion_ids[index, :kept]], dim=1),
                torch.cat([prompt_mask[index, first:], completion_mask[index, :kept]], dim=1),
                logits_to_keep=kept,
                compute_entropy=compute_entropy,
                compute_aux_loss=compute_aux_loss,
            )
            logps.append(torch.nn.functional.pad(group_logps, (0, width - kept)))
            if compute_entropy:
                entropies.append(torch.nn.functional.pad(group_entropies, (0, width - kept)))
            aux_losses.append(aux_loss)
        restore = torch.argsort(torch.tensor([row for rows in groups for row in rows], device=prompt_ids.device))
        return (
            torch.cat(logps)[restore],
            torch.cat(entropies)[restore] if compute_entropy else None,
            torch.stack(aux_losses).mean() if compute_aux_loss else None,
        )

    def _forward_groups(
        self, prompt_lengths: list[int], completion_lengths: list[int], max_groups: int, batch_size: int | None
    ) -> list[list[int]]:
        """The rows of one pass, grouped into forward calls. Every forward of a wrapped model can be a collective
        (DDP's buffer broadcast, ZeRO-3's and FSDP's weight gathers), so every process must make as many as the
        others, whatever lengths its own rows have: each process picks its count, and all take the largest."""
        groups = length_groups(prompt_lengths, completion_lengths, max_groups, max_rows=batch_size)
        if self.accelerator.num_processes == 1:
            return groups
        local = torch.tensor([[len(groups), -len(prompt_lengths)]], device=self.accelerator.device)
        counts, fewest_rows = gather(local).max(dim=0).values.tolist()
        if counts > -fewest_rows:  # every process computes the same two numbers, so all of them raise together
            raise RuntimeError(
                f"A process has {-fewest_rows} rows to score, too few for the {counts} forward passes another one "
                "needs; keep the per-device batch sizes equal and the data loader's even_batches on."
            )
        if counts == len(groups):
            return groups
        return length_groups(prompt_lengths, completion_lengths, max_groups, max_rows=batch_size, num_groups=counts)

    def _advantages_and_log(
        self, inputs: dict, rationale_logps: torch.Tensor, answer_logps: torch.Tensor, mode: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Leave-one-out advantages of the local rows and whether each reward is finite; logs the batch's reward
        metrics and completion rewards."""
        num_generations = self.num_generations if mode == "train" else self.num_generations_eval
        every, rewards, advantages = self._rewards_and_advantages(
            inputs, rationale_logps, answer_logps, num_generations
        )
        self._log_scoring_metrics(mode, rewards, every, num_generations)
        self._log_completion_rewards(rewards, advantages)
        rows = inputs["row_index"]
        return advantages[rows], torch.isfinite(rewards[rows])

    def _rewards_and_advantages(
        self, inputs: dict, rationale_logps: torch.Tensor, answer_logps: torch.Tensor, num_generations: int
    ) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """Self-rewards and leave-one-out advantages of the whole generation batch, with its gathered per-row values
        (``every``), all in generation order.

        Groups of K can straddle processes and rows can arrive shuffled, so everything is gathered and put back in
        generation order first (``row_index``); the formulas live in ``objective.py``.
        """
        local = {
            "rationale": rationale_logps.detach(),
            "answer": answer_logps.detach(),
            "finished": inputs["finished"],
            "hit_marker": inputs["hit_marker"],
            "length": inputs["rationale_mask"].sum(dim=1),
            "row_index": inputs["row_index"],
        }
        if "ref_rationale_logps" in inputs:
            local["ref"] = inputs["ref_rationale_logps"]
        gathered = gather(local)
        order = torch.argsort(gathered["row_index"])
        every = {key: value[order] for key, value in gathered.items()}

        scores = answer_rewards(every["answer"], self.args.reward_type)
        if self.args.unfinished_penalty_factor is not None:
            scores = penalize_unfinished(scores, every["finished"].bool(), self.args.unfinished_penalty_factor)
        rewards = latro_rewards(scores, every["rationale"], every.get("ref"), self.beta)
        return every, rewards, rloo_advantages(rewards, num_generations)

    # ------------------------------------------------------------------ loss

    def _compute_loss(self, model, inputs):
        per_token_logps, entropies, aux_loss = self._completion_logps(
            model,
            inputs,
            max_groups=self._training_pass_groups,
            compute_entropy=True,
            compute_aux_loss=self.aux_loss_enabled,
        )
        rationale_logps = sequence_logps(per_token_logps, inputs["rationale_mask"])
        answer_logps = sequence_logps(per_token_logps, inputs["answer_mask"])
        mode = "train" if self.model.training else "eval"
        if "advantages" in inputs:
            advantages, valid = inputs["advantages"], inputs["valid"]
        else:  # rewards from this very pass (see LaTROConfig.score_with_training_pass)
            advantages, valid = self._advantages_and_log(inputs, rationale_logps, answer_logps, mode)
        weights = answer_term_weights(answer_logps, self.args.reward_type)
        out = latro_loss(rationale_logps, answer_logps, advantages, self.args.answer_loss_coef, valid, weights)
        loss = out.loss
        if self.aux_loss_enabled:
            loss = loss + self.router_aux_loss_coef * aux_loss
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather(aux_loss.detach()).mean().item())
        rationale_mask = inputs["rationale_mask"]
        stats = self.accelerator.reduce(
            torch.stack(
                [out.policy_loss, out.answer_loss, (entropies * rationale_mask).sum(), rationale_mask.sum().float()]
            ),
            reduction="mean",
        )
        self._metrics[mode]["loss/policy"].append(stats[0].item())
        self._metrics[mode]["loss/answer"].append(stats[1].item())
        self._metrics[mode]["entropy"].append((stats[2] / stats[3].clamp(min=1.0)).item())
        return loss

    # ------------------------------------------------------------------ logging

    def _log_scoring_metrics(self, mode: str, rewards: torch.Tensor, every: dict, num_generations: int) -> None:
        metrics = self._metrics[mode]
        finite = torch.isfinite(rewards)
        metrics["reward"].append(rewards[finite].mean().item() if finite.any() else float("nan"))
        metrics["reward_std"].append(rewards[finite].std().item() if finite.sum() > 1 else 0.0)
        grouped_std = rewards.view(-1, num_generations).std(dim=1)
        metrics["frac_reward_zero_std"].append((grouped_std < 1e-6).float().mean().item())
        metrics["nonfinite_rewards"].append(float((~finite).sum().item()))
        answer = every["answer"]
        metrics["answer_logp"].append(answer[torch.isfinite(answer)].mean().item())
        if "ref" in every:
            metrics["kl"].append((every["rationale"] - every["ref"]).mean().item())
        metrics["rationale/mean_length"].append(every["length"].float().mean().item())
        metrics["rationale/marker_rate"].append(every["hit_marker"].float().mean().item())
        metrics["rationale/finished_rate"].append(every["finished"].float().mean().item())
        # TRL counts a row as clipped unless it ends in EOS; a rationale that stopped at its marker did stop.
        if metrics["completions/clipped_ratio"]:
            metrics["completions/clipped_ratio"][-1] = 1.0 - metrics["rationale/finished_rate"][-1]

    # RLOOTrainer.log prints / uploads `_logs` as its completions table (with `log_completions=True`). The texts are
    # logged at generation, the rewards when they are computed (in the loss, with score_with_training_pass): both in
    # generation order, once per generation batch, so the columns stay aligned.

    def _log_completion_texts(self, prompts: list, rationales: list[str], answer_texts: list[str]) -> None:
        self._logs["prompt"].extend(gather_object(prompts))
        self._logs["completion"].extend(gather_object(rationales))
        self._logs["extra"]["answer"].extend(gather_object(answer_texts))

    def _log_completion_rewards(self, rewards: torch.Tensor, advantages: torch.Tensor) -> None:
        self._logs["rewards"]["latro"].extend(rewards.tolist())
        self._logs["advantages"].extend(advantages.tolist())
