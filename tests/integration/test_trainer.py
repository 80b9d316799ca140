"""LaTROTrainer end to end on a tiny random model: it trains, its loss has the right gradient, it saves."""

import math

import pytest
import torch
from peft import LoraConfig
from torch.testing import assert_close
from trl import RLOOConfig

from latro_trl import LaTROConfig, LaTROTrainer
from latro_trl.objective import rloo_advantages


def _snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _changed(before, model):
    return {name for name, p in model.named_parameters() if not torch.equal(before[name], p.detach())}


@pytest.mark.parametrize("dataset_name", ["conversational_dataset", "plain_dataset"])
def test_full_finetuning_changes_every_parameter(request, dataset_name, model, tokenizer, make_config):
    dataset = request.getfixturevalue(dataset_name)
    before = _snapshot(model)
    trainer = LaTROTrainer(model=model, args=make_config(), train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    assert _changed(before, trainer.model) == set(before)
    logs = trainer.state.log_history[0]
    assert math.isfinite(logs["loss"])
    for key in (
        "reward",
        "reward_std",
        "answer_logp",
        "kl",
        "rationale/mean_length",
        "rationale/marker_rate",
        "rationale/finished_rate",
        "loss/policy",
        "loss/answer",
        "entropy",
    ):
        assert key in logs and math.isfinite(logs[key]), key


def test_evaluation_during_training_logs_eval_metrics(model, tokenizer, conversational_dataset, make_config):
    config = make_config(eval_strategy="steps", eval_steps=1, per_device_eval_batch_size=8, max_steps=1)
    trainer = LaTROTrainer(
        model=model,
        args=config,
        train_dataset=conversational_dataset,
        eval_dataset=conversational_dataset.select(range(4)),
        processing_class=tokenizer,
    )
    trainer.train()
    evals = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    assert evals and "eval_reward" in evals[0] and math.isfinite(evals[0]["eval_loss"])


def test_plain_prompts_close_the_answer_with_eos(model, tokenizer, plain_dataset, make_config):
    trainer = LaTROTrainer(model=model, args=make_config(), train_dataset=plain_dataset, processing_class=tokenizer)
    assert trainer._answer_end_ids[False] == [tokenizer.eos_token_id]
    assert trainer._answer_end_ids[True] == tokenizer("<|im_end|>", add_special_tokens=False)["input_ids"]


def test_lora_trains_adapters_only_and_uses_base_as_reference(model, tokenizer, conversational_dataset, make_config):
    before = _snapshot(model)
    peft_config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = LaTROTrainer(
        model=model,
        args=make_config(beta=0.1),
        train_dataset=conversational_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    assert trainer.ref_model is None  # adapters disabled give pi_0
    trainer.train()
    lora = {n for n, p in trainer.model.named_parameters() if "lora_B" in n}
    assert lora and all(p.abs().sum() > 0 for n, p in trainer.model.named_parameters() if n in lora)
    for name, param in trainer.model.get_base_model().named_parameters():
        if "lora_" not in name:
            assert torch.equal(param, before[name.replace(".base_layer", "")]), name


def test_in_memory_model_gets_a_frozen_reference_copy(model, tokenizer, conversational_dataset, make_config):
    # TRL 1.16's RLOOTrainer would try to re-load the reference from the hub id here and fail.
    before = _snapshot(model)
    trainer = LaTROTrainer(
        model=model, args=make_config(beta=0.2), train_dataset=conversational_dataset, processing_class=tokenizer
    )
    assert trainer.ref_model is not None and trainer.ref_model is not trainer.model
    trainer.train()
    for name, param in trainer.ref_model.named_parameters():
        assert torch.equal(param, before[name])
        assert not param.requires_grad
    first_step, second_step = trainer.state.log_history[0], trainer.state.log_history[1]
    assert first_step["kl"] == 0.0  # policy == reference before the first update
    assert second_step["kl"] != 0.0


def test_the_callers_config_is_left_as_it_was(model, tokenizer, conversational_dataset, make_config):
    config = make_config(beta=0.2, max_steps=1)
    before = config.to_dict()
    trainer = LaTROTrainer(model=model, args=config, train_dataset=conversational_dataset, processing_class=tokenizer)
    trainer.train()
    assert config.to_dict() == before
    assert trainer.args is not config and trainer.args.beta == 0.2 and trainer.beta == 0.2


def test_model_reused_in_a_second_trainer_gets_a_true_reference(model, tokenizer, conversational_dataset, make_config):
    # The first trainer patches the model's forward (TRL's log-prob head); a deep copy of it would keep calling the
    # original model on a plain forward. The second trainer's reference must be a model of its own.
    LaTROTrainer(
        model=model,
        args=make_config(beta=0.2, max_steps=1),
        train_dataset=conversational_dataset,
        processing_class=tokenizer,
    )
    trainer = LaTROTrainer(
        model=model, args=make_config(beta=0.2), train_dataset=conversational_dataset, processing_class=tokenizer
    )
    input_ids = torch.tensor([[1, 5, 9, 12]])
    reference_before = trainer.ref_model(input_ids=input_ids).logits.detach().clone()
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(1.0)
    assert torch.equal(trainer.ref_model(input_ids=input_ids).logits, reference_before)


def test_given_reference_model_is_used(model, tokenizer, conversational_dataset, make_config):
    from latro_trl.testing import make_tiny_model

    ref = make_tiny_model(tokenizer, seed=1)
    trainer = LaTROTrainer(
        model=model,
        args=make_config(beta=0.2, max_steps=1),
        train_dataset=conversational_dataset,
        processing_class=tokenizer,
        ref_model=ref,
    )
    trainer.train()
    assert trainer.state.log_history[0]["kl"] != 0.0  # a different reference: the KL sample is not zero


def test_rloo_config_and_reward_funcs_are_accepted(model, tokenizer, conversational_dataset, tmp_path):
    args = RLOOConfig(
        output_dir=str(tmp_path),
        num_generations=4,
        per_device_train_batch_size=8,
        max_completion_length=8,
        max_steps=1,
        report_to="none",
        save_strategy="no",
        bf16=False,
    )
    trainer = LaTROTrainer(
        model=model,
        reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
        args=args,
        train_dataset=conversational_dataset,
        processing_class=tokenizer,
    )
    assert isinstance(trainer.args, LaTROConfig) and trainer.args.num_generations == 4
    trainer.train()


def test_grpo_config_is_converted(model, tokenizer, conversational_dataset, tmp_path):
    from trl import GRPOConfig

    args = GRPOConfig(
        output_dir=str(tmp_path),
        num_generations=4,
        per_device_train_batch_size=8,
        max_completion_length=8,
        max_steps=1,
        report_to="none",
        save_strategy="no",
        bf16=False,
        beta=0.1,
        learning_rate=1e-3,
    )
    trainer = LaTROTrainer(model=model, args=args, train_dataset=conversational_dataset, processing_class=tokenizer)
    assert isinstance(trainer.args, LaTROConfig)
    assert (trainer.args.beta, trainer.args.learning_rate, trainer.args.num_generations) == (0.1, 1e-3, 4)
    trainer.train()


def test_converted_config_names_the_options_latro_ignores(model, tokenizer, conversational_dataset, tmp_path, caplog):
    from trl import GRPOConfig

    args = GRPOConfig(
        output_dir=str(tmp_path),
        num_generations=4,
        per_device_train_batch_size=8,
        max_steps=1,
        report_to="none",
        bf16=False,
        loss_type="grpo",  # GRPO-only: dropped in the conversion
        mask_truncated_completions=True,  # an RLOOConfig field LaTRO never reads
    )
    with pytest.warns(UserWarning, match="mask_truncated_completions=True"), caplog.at_level("WARNING"):
        LaTROTrainer(model=model, args=args, train_dataset=conversational_dataset, processing_class=tokenizer)
    assert "loss_type='grpo'" in caplog.text


def test_checkpoint_saves_and_loads(model, tokenizer, conversational_dataset, make_config, tmp_path):
    from transformers import AutoModelForCausalLM

    args = make_config(save_strategy="steps", save_steps=2)
    trainer = LaTROTrainer(model=model, args=args, train_dataset=conversational_dataset, processing_class=tokenizer)
    trainer.train()
    checkpoint = tmp_path / "out" / "checkpoint-2"
    assert (checkpoint / "optimizer.pt").exists() and (checkpoint / "trainer_state.json").exists()
    reloaded = AutoModelForCausalLM.from_pretrained(checkpoint)
    for (name, a), b in zip(trainer.model.named_parameters(), reloaded.parameters(), strict=True):
        assert torch.equal(a.detach(), b.detach()), name
    card = (tmp_path / "out" / "README.md").read_text()
    assert "2411.04282" in card and "LaTRO" in card


def _independent_logps(model, batch):
    """log pi(z|x) and log pi(y|x+z) per sequence from the plain logits (no TRL log-prob head)."""
    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention_mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
    token_logps = torch.log_softmax(logits.float(), -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    width = batch["completion_ids"].size(1)
    completion_logps = token_logps[:, -width:]
    return (completion_logps * batch["rationale_mask"]).sum(1), (completion_logps * batch["answer_mask"]).sum(1)


def test_loss_gradient_equals_the_estimator_assembled_term_by_term(
    model, tokenizer, conversational_dataset, make_config
):
    beta, lam = 0.3, 0.7
    trainer = LaTROTrainer(
        model=model,
        args=make_config(
            beta=beta, answer_loss_coef=lam, unfinished_penalty_factor=None, score_with_training_pass=False
        ),
        train_dataset=conversational_dataset,
        processing_class=tokenizer,
    )
    with torch.no_grad():  # move the policy away from the reference so that the KL term is not zero
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    trainer.model.train()
    inputs = [conversational_dataset[i] for i in (0, 0, 0, 0, 1, 1, 1, 1)]
    batch = trainer._generate_and_score_completions(inputs)

    # Rewards and advantages, recomputed from independent forward passes
    with torch.no_grad():
        rationale_logps, answer_logps = _independent_logps(trainer.model, batch)
        ref_rationale_logps, _ = _independent_logps(trainer.ref_model, batch)
    rewards = answer_logps - beta * (rationale_logps - ref_rationale_logps)
    assert_close(batch["advantages"], rloo_advantages(rewards, 4), atol=1e-4, rtol=1e-4)

    params = [p for p in trainer.model.parameters() if p.requires_grad]
    autograd = torch.autograd.grad(trainer._compute_loss(trainer.model, batch), params)

    # grad L = -1/N sum_i [A_i grad log pi(z_i|x) + lambda grad log pi(y_i|x+z_i)], one term at a time
    rationale_logps, answer_logps = _independent_logps(trainer.model, batch)
    n = len(inputs)
    expected = [torch.zeros_like(p) for p in params]
    for i in range(n):
        g_z = torch.autograd.grad(rationale_logps[i], params, retain_graph=True, allow_unused=True)
        g_y = torch.autograd.grad(answer_logps[i], params, retain_graph=True, allow_unused=True)
        for e, gz, gy in zip(expected, g_z, g_y, strict=True):
            if gz is not None:
                e -= batch["advantages"][i] * gz / n
            if gy is not None:
                e -= lam * gy / n
    for got, want in zip(autograd, expected, strict=True):
        assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_scoring_in_the_training_pass_equals_a_separate_scoring_pass(tokenizer, conversational_dataset, make_config):
    """One forward pass fewer per update, same training: the reward comes from the training pass itself."""
    from latro_trl.testing import make_tiny_model

    results = {}
    for fused in (False, True):
        config = make_config(max_steps=3, beta=0.1, score_with_training_pass=fused, learning_rate=5e-3)
        trainer = LaTROTrainer(
            model=make_tiny_model(tokenizer),
            args=config,
            train_dataset=conversational_dataset,
            processing_class=tokenizer,
        )
        assert trainer._score_with_training_pass is fused
        trainer.train()
        results[fused] = trainer
    for name, param in results[False].model.named_parameters():
        assert_close(dict(results[True].model.named_parameters())[name], param, atol=1e-5, rtol=1e-4)
    for a, b in zip(results[False].state.log_history[:-1], results[True].state.log_history[:-1], strict=True):
        for key in ("loss", "reward", "kl", "answer_logp", "rationale/mean_length"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-4), key


def test_scoring_in_the_training_pass_is_automatic_only_when_exact(
    model, tokenizer, conversational_dataset, make_config
):
    def resolved(**overrides):
        trainer = LaTROTrainer(
            model=model, args=make_config(**overrides), train_dataset=conversational_dataset, processing_class=tokenizer
        )
        return trainer._score_with_training_pass

    assert resolved() is True
    assert resolved(per_device_train_batch_size=4, gradient_accumulation_steps=2) is False  # 2 micro-batches
    with pytest.raises(ValueError, match="steps_per_generation=1"):
        resolved(per_device_train_batch_size=4, gradient_accumulation_steps=2, score_with_training_pass=True)


@pytest.mark.parametrize("prune", [False, True], ids=["generate", "pruned"])
def test_generation_stops_right_after_a_stop_marker(model, tokenizer, make_config, prune):
    from datasets import Dataset

    markers = ["e", "a"]  # letters the random model writes often
    config = make_config(stop_markers=markers, max_completion_length=30, prune_finished_rows=prune)
    dataset = Dataset.from_list([{"prompt": "What is 1+1?", "answer": "2"}] * 8)
    trainer = LaTROTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.model.train()
    _, completions, _ = trainer._generate(["What is 1+1?"] * 8)
    stopped = 0
    for ids in completions:
        ids = [t for t in ids if t != tokenizer.eos_token_id]
        first_with_marker = next(
            (n for n in range(1, len(ids) + 1) if any(m in tokenizer.decode(ids[:n]) for m in markers)), None
        )
        if first_with_marker is not None:  # no token was spent after the one that completed the marker
            assert first_with_marker == len(ids), tokenizer.convert_ids_to_tokens(ids)
            stopped += len(ids) < 30
    assert stopped > 0


@pytest.mark.parametrize("prune", [True, False], ids=["pruned", "generate"])
def test_rows_that_stop_at_a_marker_are_not_counted_as_clipped(model, tokenizer, make_config, prune):
    from datasets import Dataset

    # Markers the random model writes often: most rows stop at one, without an end token.
    config = make_config(stop_markers=["e", "a"], max_completion_length=30, prune_finished_rows=prune, max_steps=1)
    dataset = Dataset.from_list([{"prompt": "What is 1+1?", "answer": "2"}] * 8)
    trainer = LaTROTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    logs = next(entry for entry in trainer.state.log_history if "reward" in entry)
    assert logs["rationale/marker_rate"] > 0.5
    assert logs["completions/clipped_ratio"] == pytest.approx(1.0 - logs["rationale/finished_rate"])


@pytest.mark.parametrize("fused", [True, False], ids=["rewards_in_loss", "rewards_at_generation"])
def test_completions_table_columns_stay_aligned(model, tokenizer, conversational_dataset, make_config, fused):
    # Texts are logged at generation, rewards where they are computed (in the loss when fused): same rows, same order.
    config = make_config(max_steps=2, score_with_training_pass=fused, logging_steps=100)
    trainer = LaTROTrainer(model=model, args=config, train_dataset=conversational_dataset, processing_class=tokenizer)
    trainer.train()
    logs = trainer._logs
    prompts, advantages = list(logs["prompt"]), list(logs["advantages"])
    columns = [prompts, logs["completion"], logs["extra"]["answer"], logs["rewards"]["latro"], advantages]
    assert len({len(column) for column in columns}) == 1 and prompts
    group = config.num_generations
    for start in range(0, len(prompts), group):  # each group of K: one question, advantages summing to 0
        assert len({str(prompt) for prompt in prompts[start : start + group]}) == 1
        assert sum(advantages[start : start + group]) == pytest.approx(0.0, abs=1e-4)


def test_probability_reward_trains_with_rewards_in_the_unit_interval(
    model, tokenizer, conversational_dataset, make_config
):
    args = make_config(reward_type="probability", beta=0.0, unfinished_penalty_factor=None, max_steps=2)
    trainer = LaTROTrainer(model=model, args=args, train_dataset=conversational_dataset, processing_class=tokenizer)
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert logs and all(0.0 <= entry["reward"] <= 1.0 for entry in logs)
    # The answer term is weighted by pi(y|x+z) <= 1, so it is at most the unweighted answer NLL (a tiny random model
    # puts almost no mass on the gold answer: the weighted term is close to 0).
    assert all(0.0 <= entry["loss/answer"] <= -entry["answer_logp"] for entry in logs)


def test_unknown_reward_type_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="log_likelihood, probability"):
        LaTROConfig(output_dir=str(tmp_path), reward_type="accuracy")


def _trained_adapter(model):
    from peft import LoraConfig, get_peft_model

    # init_lora_weights=False: random, non-zero LoRA weights, i.e. an adapter that changes the model (a warm start).
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def test_warm_start_adapter_is_the_reference(model, tokenizer, conversational_dataset, make_config):
    # A PeftModel whose adapter is the warm start: at learning rate 0 the policy never moves, so the KL sample to the
    # reference is exactly 0 when the reference is the warm start, and not when it is the raw base (adapters off).
    warm = _trained_adapter(model)
    args = make_config(beta=0.1, learning_rate=0.0, max_steps=1)
    trainer = LaTROTrainer(model=warm, args=args, train_dataset=conversational_dataset, processing_class=tokenizer)
    trainer.train()
    assert trainer.state.log_history[0]["kl"] == pytest.approx(0.0, abs=1e-5)

    from trl.trainer.utils import use_adapter

    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    prompt = tokenizer("Tom has 3 apples.", return_tensors="pt")
    with torch.no_grad():
        warm_logits = unwrapped(**prompt).logits
        with use_adapter(unwrapped, adapter_name=None):
            base_logits = unwrapped(**prompt).logits
    assert not torch.allclose(warm_logits, base_logits)  # the adapter matters: a raw-base reference would differ


def test_merged_warm_start_with_a_new_lora(model, tokenizer, conversational_dataset, make_config, tmp_path):
    from peft import LoraConfig

    from latro_trl.models import merge_adapter
    from latro_trl.testing import make_tiny_model

    warm = _trained_adapter(model)
    warm.save_pretrained(tmp_path / "sft_adapter")
    with torch.no_grad():
        expected = warm(**tokenizer("Tom has 3 apples.", return_tensors="pt")).logits
    start = merge_adapter(make_tiny_model(tokenizer), tmp_path / "sft_adapter")  # the same base, fresh
    with torch.no_grad():
        assert torch.allclose(start(**tokenizer("Tom has 3 apples.", return_tensors="pt")).logits, expected, atol=1e-5)
    args = make_config(beta=0.1, learning_rate=0.0, max_steps=1)
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = LaTROTrainer(
        model=start, args=args, train_dataset=conversational_dataset, processing_class=tokenizer, peft_config=lora
    )
    trainer.train()
    assert trainer.state.log_history[0]["kl"] == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("stop_at_markers", [True, False])
def test_training_samples_ignore_the_models_generation_config(
    model, tokenizer, conversational_dataset, make_config, stop_at_markers, monkeypatch
):
    # A chat model's generation_config.json (min_p, typical_p, no-repeat n-grams, suppressed tokens, a minimum length)
    # must not reach LaTRO's sampling: the estimator needs samples of the policy itself at temperature 1.
    from transformers import GenerationConfig
    from transformers.generation.utils import GenerationMixin

    model.generation_config = GenerationConfig(
        min_p=0.2,
        typical_p=0.5,
        no_repeat_ngram_size=2,
        epsilon_cutoff=0.01,
        min_new_tokens=3,
        suppress_tokens=[5],
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    built = []
    original = GenerationMixin._get_logits_processor

    def spy(self, *args, **kwargs):
        processors = original(self, *args, **kwargs)
        built.append([type(p).__name__ for p in processors])
        return processors

    monkeypatch.setattr(GenerationMixin, "_get_logits_processor", spy)
    # transformers' `generate` path (the pruned sampler never reads a generation config at all)
    args = make_config(max_steps=1, stop_generation_at_markers=stop_at_markers, prune_finished_rows=False)
    trainer = LaTROTrainer(model=model, args=args, train_dataset=conversational_dataset, processing_class=tokenizer)
    trainer.train()
    assert built and all(names == [] for names in built), built
    assert trainer.model.generation_config.min_p == 0.2  # the model's own config is back after generation


def test_pruned_sampling_trains_and_rejects_what_it_cannot_sample(
    model, tokenizer, conversational_dataset, make_config
):
    args = make_config(prune_finished_rows=True, max_steps=1)
    trainer = LaTROTrainer(model=model, args=args, train_dataset=conversational_dataset, processing_class=tokenizer)
    trainer.train()
    assert trainer.state.log_history[0]["rationale/mean_length"] > 0
    with pytest.raises(ValueError, match="prune_finished_rows samples at `temperature` only, but top_p"):
        make_config(prune_finished_rows=True, top_p=0.9)
    with pytest.raises(ValueError, match="vLLM and continuous batching"):
        make_config(prune_finished_rows=True, use_transformers_continuous_batching=True)


def test_pruned_sampling_is_on_by_default_exactly_where_it_applies(
    model, tokenizer, conversational_dataset, make_config
):
    def resolved(**overrides):
        args = make_config(**overrides)
        trainer = LaTROTrainer(model=model, args=args, train_dataset=conversational_dataset, processing_class=tokenizer)
        return trainer._prune_finished_rows

    assert resolved() is True
    assert resolved(prune_finished_rows=False) is False
    with pytest.warns(UserWarning, match="biased"):
        assert resolved(top_p=0.9) is False  # generate() samples what the pruned sampler cannot
    assert resolved(generation_kwargs={"top_k": 5}) is False
    # Several processes that must decode in lockstep: tests/unit/test_execution.py.


def test_length_groups_give_the_padded_pass_without_computing_its_padding(
    model, tokenizer, conversational_dataset, make_config
):
    from latro_trl.sequences import assemble_scoring_batch

    trainer = LaTROTrainer(
        model=model, args=make_config(length_groups=3), train_dataset=conversational_dataset, processing_class=tokenizer
    )
    assert trainer._length_groups == 3
    generator = torch.Generator().manual_seed(0)
    prompts = [torch.randint(5, 90, (n,), generator=generator).tolist() for n in (3, 9, 4, 8, 5, 2)]
    rationales = [torch.randint(5, 90, (n,), generator=generator).tolist() for n in (0, 14, 2, 11, 6, 1)]
    answers = [[7, 8, tokenizer.eos_token_id]] * 6
    batch = assemble_scoring_batch(prompts, rationales, answers, tokenizer.pad_token_id)._asdict()

    seen = []
    real_pass = trainer._get_per_token_logps_and_entropies

    def counting_pass(model, input_ids, *args, **kwargs):
        seen.append(input_ids.numel())
        return real_pass(model, input_ids, *args, **kwargs)

    trainer._get_per_token_logps_and_entropies = counting_pass
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    results = {}
    for groups in (1, 3):
        seen[:] = []
        logps, entropies, _ = trainer._completion_logps(trainer.model, batch, max_groups=groups, compute_entropy=True)
        grads = torch.autograd.grad((logps * batch["completion_mask"]).sum(), params)
        results[groups] = (logps, entropies, grads, list(seen))
    (one_logps, one_entropies, one_grads, one_pass), (logps, entropies, grads, passes) = results[1], results[3]
    mask = batch["completion_mask"].bool()
    assert_close(logps[mask], one_logps[mask], atol=1e-5, rtol=1e-5)
    assert_close(entropies[mask], one_entropies[mask], atol=1e-5, rtol=1e-5)
    assert (logps[~mask] == 0).all()
    for got, want in zip(grads, one_grads, strict=True):
        assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert len(one_pass) == 1 and len(passes) == 3
    assert sum(passes) < 0.7 * one_pass[0]  # 6 rows x 26 positions padded; the groups cover far fewer


def test_the_trainer_reads_its_pass_layout_from_its_own_setup(model, tokenizer, plain_dataset, make_config):
    """The choices themselves are tested in tests/unit/test_execution.py; here, that the trainer makes them from its
    config and its (single-process) setup."""
    trainer = LaTROTrainer(model=model, args=make_config(), train_dataset=plain_dataset, processing_class=tokenizer)
    assert (trainer._length_groups, trainer._training_pass_groups) == (4, 4)
    trainer = LaTROTrainer(
        model=model, args=make_config(length_groups=3), train_dataset=plain_dataset, processing_class=tokenizer
    )
    assert (trainer._length_groups, trainer._training_pass_groups) == (3, 3)
    reentrant = {"gradient_checkpointing": True, "gradient_checkpointing_kwargs": {"use_reentrant": True}}
    args = make_config(length_groups=3, **reentrant)
    trainer = LaTROTrainer(model=model, args=args, train_dataset=plain_dataset, processing_class=tokenizer)
    assert (trainer._length_groups, trainer._training_pass_groups) == (3, 1)
