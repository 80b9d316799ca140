"""The memory plan (latro_trl/plan/): known DeepSpeed values, hand-computed parts, monotonicity, bad inputs."""

import json

import pytest

from latro_trl.cli import plan as plan_cli
from latro_trl.plan import (
    GIB,
    PRESETS,
    ModelArch,
    arch_from_config,
    fits_table,
    kv_cache_bytes,
    layer_activation_bytes_per_token,
    plan_memory,
    render_table,
    resolve_arch,
)

LLAMA = "Llama-3.1-8B-Instruct"


@pytest.fixture(params=[True, False], ids=["deepspeed", "formula"])
def use_deepspeed(request):
    if request.param:
        pytest.importorskip("deepspeed")
    return request.param


def test_preset_parameter_counts_match_the_published_sizes():
    counts = {arch.name: arch.num_params for arch in PRESETS.values()}
    assert counts[LLAMA] == 8_030_261_248
    assert counts["Mistral-7B-Instruct-v0.3"] == 7_248_023_552
    assert counts["Phi-3.5-mini-instruct"] == 3_821_079_552
    assert resolve_arch(LLAMA).largest_layer_params == 128256 * 4096


@pytest.mark.parametrize(
    ("zero_stage", "offload_optimizer", "offload_params", "expected_gib"),
    [
        (3, False, False, 18.78),
        (3, True, False, 3.83),
        (3, True, True, 1.96),
        (2, False, False, 31.78),
        (2, True, False, 14.96),
    ],
)
def test_model_states_match_deepspeed_notes_for_8b(
    use_deepspeed, zero_stage, offload_optimizer, offload_params, expected_gib
):
    plan = plan_memory(
        LLAMA,
        zero_stage=zero_stage,
        offload_optimizer=offload_optimizer,
        offload_params=offload_params,
        use_deepspeed=use_deepspeed,
    )
    assert round(plan.model_states_gib, 2) == expected_gib
    assert ("DeepSpeed 0." in plan.estimator) is use_deepspeed


def test_formula_fallback_equals_deepspeed_everywhere():
    pytest.importorskip("deepspeed")
    for setup in [
        dict(zero_stage=3),
        dict(zero_stage=3, offload_optimizer=True),
        dict(zero_stage=2, lora=True),
        dict(zero_stage=3, offload_optimizer=True, offload_params=True, lora=True),
    ]:
        for num_gpus in (1, 8, 16):
            ours = plan_memory("Phi-3.5-mini-instruct", num_gpus=num_gpus, use_deepspeed=False, **setup)
            theirs = plan_memory("Phi-3.5-mini-instruct", num_gpus=num_gpus, use_deepspeed=True, **setup)
            assert ours.model_states_gib == pytest.approx(theirs.model_states_gib, abs=1e-6)
            assert ours.cpu_gib_per_node == pytest.approx(theirs.cpu_gib_per_node, abs=1e-6)


def test_kv_cache_hand_computed():
    arch = resolve_arch(LLAMA)  # 32 layers, 8 KV heads of 128
    assert kv_cache_bytes(arch, sequence_length=756, num_sequences=16) == 2 * 32 * 8 * 128 * 756 * 16 * 2
    plan = plan_memory(LLAMA, prompt_length=256, rationale_length=500, num_generations=16)
    assert plan.kv_cache_gib == pytest.approx(2 * 32 * 8 * 128 * 756 * 16 * 2 / GIB)
    wider = plan_memory(LLAMA, generation_batch_size=48)
    assert wider.kv_cache_gib == pytest.approx(3 * plan.kv_cache_gib)


def test_activation_and_reference_parts_hand_computed():
    arch = ModelArch(
        "toy", hidden_size=8, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=16, vocab_size=10
    )
    # q = 8, kv = 4: attention 2 * (16 + 8 + 8 + 8) = 80, MLP 2 * (16 + 64) = 160, fp32 norms 64.
    assert layer_activation_bytes_per_token(arch) == 304
    plan = plan_memory(
        arch,
        num_gpus=1,
        zero_stage=0,
        micro_batch=1,
        prompt_length=1,
        rationale_length=2,
        answer_length=1,
        overhead_gib=0,
    )
    tokens = 4
    assert plan.training_activations_gib * GIB == pytest.approx(tokens * (2 * 2 * 8 + 304))
    assert plan.scoring_activations_gib * GIB == pytest.approx(tokens * 304)
    assert plan.reference_gib * GIB == 2 * arch.num_params
    assert plan.model_states_gib * GIB == 16 * arch.num_params
    assert plan.gathered_params_gib == 0


def test_total_is_states_plus_reference_plus_overhead_plus_largest_phase():
    plan = plan_memory(LLAMA)
    phases = (plan.generation_gib, plan.scoring_gib, plan.training_gib)
    assert plan.total_gib == pytest.approx(plan.model_states_gib + plan.reference_gib + plan.overhead_gib + max(phases))
    assert plan.peak_phase == "generation"  # ZeRO-3 gathers the whole bf16 model for generate()


def test_more_gpus_means_less_per_gpu_under_zero3():
    totals = [plan_memory(LLAMA, num_gpus=n).total_gib for n in (1, 2, 4, 8, 16)]
    states = [plan_memory(LLAMA, num_gpus=n).model_states_gib for n in (1, 2, 4, 8, 16)]
    assert totals == sorted(totals, reverse=True) and len(set(totals)) == len(totals)
    assert states == sorted(states, reverse=True) and len(set(states)) == len(states)


def test_offload_reduces_gpu_memory():
    none = plan_memory(LLAMA)
    optimizer = plan_memory(LLAMA, offload_optimizer=True)
    everything = plan_memory(LLAMA, offload_optimizer=True, offload_params=True)
    assert none.model_states_gib > optimizer.model_states_gib > everything.model_states_gib
    assert none.total_gib > optimizer.total_gib > everything.total_gib
    assert everything.reference_gib == 0  # TRL's ZeRO-3 reference keeps the policy's parameter offload
    assert (
        plan_memory(LLAMA, zero_stage=2, offload_optimizer=True).total_gib < plan_memory(LLAMA, zero_stage=2).total_gib
    )


@pytest.mark.parametrize("zero_stage", [0, 2, 3])
def test_lora_reduces_memory_and_drops_the_reference(zero_stage):
    full = plan_memory(LLAMA, zero_stage=zero_stage)
    lora = plan_memory(LLAMA, zero_stage=zero_stage, lora=True)
    assert lora.model_states_gib < full.model_states_gib
    assert lora.total_gib < full.total_gib
    assert lora.reference_gib == 0 < full.reference_gib
    assert lora.trainable_params == PRESETS["meta-llama/Llama-3.1-8B-Instruct"].lora_params(16) == 41_943_040


def test_workload_knobs_move_the_right_parts():
    base = plan_memory(LLAMA)
    assert (
        plan_memory(LLAMA, gradient_checkpointing=False).training_activations_gib > 10 * base.training_activations_gib
    )
    assert plan_memory(LLAMA, fused_lm_head=True).training_logits_gib < base.training_logits_gib
    assert plan_memory(LLAMA, ds3_gather_for_generation=False).gathered_params_gib == 0
    assert plan_memory(LLAMA, beta=0.0).reference_gib == 0
    assert plan_memory(LLAMA, micro_batch=8).training_gib > base.training_gib


def test_fits_and_table():
    rows = fits_table(models=[LLAMA], gpu_memory_gb=(80, 24))
    by_setup = {row.setup.label: row for row in rows}
    assert by_setup["ZeRO-3"].fits == {80: True, 24: False}
    assert by_setup["ZeRO-3 + offload optimizer"].plan.offload_optimizer
    table = render_table(rows)
    assert table.count("\n| Llama-3.1-8B-Instruct | ZeRO-") == 4
    header, separator = table.splitlines()[:2]
    assert header.count("|") == separator.count("|")
    assert "| Llama-3.1-8B-Instruct | 8x80GB | ZeRO-2 |" in table


def test_config_json_and_config_object_are_accepted(tmp_path):
    values = {
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 100,
        "tie_word_embeddings": True,
    }
    (tmp_path / "config.json").write_text(json.dumps(values))
    from_file = resolve_arch(tmp_path / "config.json")
    from_folder = resolve_arch(str(tmp_path))
    assert from_file == from_folder and from_file.num_kv_heads == 2 and from_file.tie_word_embeddings
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(**{k: v for k, v in values.items() if k != "model_type"})
    assert arch_from_config(config, name=from_file.name) == from_file
    assert resolve_arch("meta-llama/llama-3.1-8b-instruct") is resolve_arch(LLAMA)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(arch="no-such-model"), "Unknown model"),
        (dict(num_gpus=0), "num_gpus"),
        (dict(num_gpus=12, gpus_per_node=8), "multiple of gpus_per_node"),
        (dict(zero_stage=1), "zero_stage must be 0"),
        (dict(zero_stage=2, offload_optimizer=True, offload_params=True), "only under ZeRO-3"),
        (dict(offload_params=True), "needs offload_optimizer"),
        (dict(zero_stage=0, offload_optimizer=True), "needs DeepSpeed ZeRO"),
        (dict(num_generations=1), "at least two"),
        (dict(micro_batch=0), "micro_batch"),
        (dict(rationale_length=2.5), "rationale_length"),
        (dict(beta=-0.1), "beta"),
    ],
)
def test_bad_inputs_raise_value_errors_that_name_the_fix(kwargs, message):
    arch = kwargs.pop("arch", LLAMA)
    with pytest.raises(ValueError, match=message):
        plan_memory(arch, **kwargs)


def test_bad_architectures_raise():
    with pytest.raises(ValueError, match="lacks hidden_size"):
        arch_from_config({"num_hidden_layers": 2})
    with pytest.raises(ValueError, match="multiple of num_kv_heads"):
        ModelArch("x", hidden_size=8, num_layers=1, num_heads=3, num_kv_heads=2, intermediate_size=8, vocab_size=4)
    with pytest.raises(ValueError, match="gpu_memory_gb"):
        plan_memory(LLAMA).fits(0)


def test_cli_plan_and_table(capsys):
    assert plan_cli.main(["--model_name_or_path", LLAMA, "--offload_optimizer", "--gpu_memory_gb", "40"]) == 0
    out = capsys.readouterr().out
    assert "ZeRO-3 + offload optimizer" in out and "-> fits in 40 GB" in out
    assert (
        plan_cli.main(
            ["--model_name_or_path", LLAMA, "--use_peft", "--zero", "2", "--per_device_train_batch_size", "2", "--json"]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["lora"] and payload["zero_stage"] == 2 and payload["reference_gib"] == 0
    assert plan_cli.main(["--table", "--max_completion_length", "300"]) == 0
    assert "| Phi-3.5-mini-instruct | 8x24GB |" in capsys.readouterr().out
    assert plan_cli.main(["--model_name_or_path", LLAMA, "--zero", "2", "--offload_params"]) == 2
    assert "only under ZeRO-3" in capsys.readouterr().err


def test_cli_add_parser_registers_plan():
    import argparse

    parser = argparse.ArgumentParser(prog="latro")
    plan_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["plan", "--model_name_or_path", LLAMA, "--gpus", "16", "--zero", "3", "--offload_optimizer"]
    )
    assert args.func is plan_cli.run and args.gpus == 16 and args.offload_optimizer


def test_docs_memory_table_is_up_to_date():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "memory.md"
    assert render_table() in docs.read_text(), "regenerate with: python -m latro_trl.cli.plan --table"


def test_cli_json_stdout_is_pure_json_in_a_fresh_process():
    # In a fresh process DeepSpeed is imported by the plan itself, and its import-time log must not reach stdout.
    import subprocess
    import sys

    command = [sys.executable, "-m", "latro_trl.cli.plan", "--model_name_or_path", LLAMA, "--zero", "3", "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    assert round(json.loads(result.stdout)["model_states_gib"], 2) == 18.78


def _paper_config(tmp_path, **overrides):
    from latro_trl import LaTROConfig

    settings = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=16,
        num_generations=16,
        max_completion_length=500,
        max_prompt_length=256,
        beta=0.05,
        gradient_checkpointing=True,
        bf16=False,
    )
    return LaTROConfig(**(settings | overrides))


def test_plan_for_config_reads_the_workload_from_the_config(tmp_path):
    from peft import LoraConfig

    from latro_trl.plan import plan_for_config

    config = _paper_config(tmp_path)
    by_hand = dict(
        num_gpus=8, zero_stage=3, micro_batch=16, num_generations=16, generation_batch_size=16, prompt_length=256,
        rationale_length=500, beta=0.05, gradient_checkpointing=True, fused_lm_head=True, use_deepspeed=False,
    )  # fmt: skip
    assert plan_for_config(LLAMA, config, use_deepspeed=False) == plan_memory(LLAMA, **by_hand)
    lora = plan_for_config(LLAMA, config, peft_config=LoraConfig(r=8), use_deepspeed=False)
    assert lora == plan_memory(LLAMA, **by_hand, lora=True, lora_rank=8)
    shorter = plan_for_config(LLAMA, _paper_config(tmp_path, max_completion_length=100), use_deepspeed=False)
    assert shorter.kv_cache_gib < lora.kv_cache_gib and shorter.training_activations_gib < lora.training_activations_gib


@pytest.mark.parametrize(
    ("shipped", "stage", "offload_optimizer", "offload_params"),
    [
        ("zero2.json", 2, False, False),
        ("zero3.json", 3, False, False),
        ("zero3_offload_optimizer.json", 3, True, False),
        ("zero3_offload_all.json", 3, True, True),
    ],
)
def test_plan_for_config_takes_sharding_from_the_deepspeed_json(
    tmp_path, shipped, stage, offload_optimizer, offload_params
):
    from pathlib import Path

    from latro_trl.plan import plan_for_config

    config = _paper_config(tmp_path)
    config.deepspeed = str(Path(__file__).resolve().parents[2] / "deepspeed_configs" / shipped)
    plan = plan_for_config(LLAMA, config, use_deepspeed=False)
    assert (plan.zero_stage, plan.offload_optimizer, plan.offload_params) == (stage, offload_optimizer, offload_params)
