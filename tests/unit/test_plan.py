"""The memory plan (latro_trl/plan/): known DeepSpeed values, hand-computed parts, monotonicity, bad inputs, the plan
of a config, `latro plan` and the fits table of docs/memory.md."""

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
# A workload by hand, named as LaTROConfig's fields: micro batches of 4, K = 16 generated at once, L = 500.
WORKLOAD = dict(
    per_device_train_batch_size=4, num_generations=16, steps_per_generation=4, max_prompt_length=256,
    max_completion_length=500, gradient_checkpointing=True, beta=0.05,
)  # fmt: skip


def planned(arch=LLAMA, **overrides):
    """`plan_memory` at WORKLOAD, with overrides."""
    return plan_memory(arch, **(WORKLOAD | overrides))


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
    plan = planned(
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
        dict(zero_stage=2, lora_r=16),
        dict(zero_stage=3, offload_optimizer=True, offload_params=True, lora_r=16),
    ]:
        for num_gpus in (1, 8, 16):
            ours = planned("Phi-3.5-mini-instruct", num_gpus=num_gpus, use_deepspeed=False, **setup)
            theirs = planned("Phi-3.5-mini-instruct", num_gpus=num_gpus, use_deepspeed=True, **setup)
            assert ours.model_states_gib == pytest.approx(theirs.model_states_gib, abs=1e-6)
            assert ours.cpu_gib_per_node == pytest.approx(theirs.cpu_gib_per_node, abs=1e-6)


def test_kv_cache_hand_computed():
    arch = resolve_arch(LLAMA)  # 32 layers, 8 KV heads of 128
    assert kv_cache_bytes(arch, sequence_length=756, num_sequences=16) == 2 * 32 * 8 * 128 * 756 * 16 * 2
    kv = planned(LLAMA, max_prompt_length=256, max_completion_length=500)  # 4 x 4 = 16 sequences generated at once
    assert kv.kv_cache_gib == pytest.approx(2 * 32 * 8 * 128 * 756 * 16 * 2 / GIB)
    wider = planned(LLAMA, steps_per_generation=12)
    assert wider.kv_cache_gib == pytest.approx(3 * kv.kv_cache_gib)


def test_activation_and_reference_parts_hand_computed():
    arch = ModelArch(
        "toy", hidden_size=8, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=16, vocab_size=10
    )
    # q = 8, kv = 4: attention 2 * (16 + 8 + 8 + 8) = 80, MLP 2 * (16 + 64) = 160, fp32 norms 64.
    assert layer_activation_bytes_per_token(arch) == 304
    toy = planned(
        arch,
        num_gpus=1,
        zero_stage=0,
        per_device_train_batch_size=1,
        max_prompt_length=1,
        max_completion_length=2,
        answer_length=1,
        overhead_gib=0,
    )
    tokens = 4
    assert toy.training_activations_gib * GIB == pytest.approx(tokens * (2 * 2 * 8 + 304))
    assert toy.scoring_activations_gib * GIB == pytest.approx(tokens * 304)
    assert toy.reference_gib * GIB == 2 * arch.num_params
    assert toy.model_states_gib * GIB == 16 * arch.num_params
    assert toy.gathered_params_gib == 0
    # The fused log-prob head: one fp32 tile of 3 tokens x 10 vocabulary columns (two in training), no logits.
    assert (toy.scoring_logits_gib * GIB, toy.training_logits_gib * GIB) == (3 * 10 * 4, 2 * 3 * 10 * 4)


def test_total_is_states_plus_reference_plus_overhead_plus_largest_phase():
    full = planned(LLAMA)
    phases = (full.generation_gib, full.scoring_gib, full.training_gib)
    assert full.total_gib == pytest.approx(full.model_states_gib + full.reference_gib + full.overhead_gib + max(phases))
    assert full.peak_phase == "generation"  # ZeRO-3 gathers the whole bf16 model for generate()


def test_more_gpus_means_less_per_gpu_under_zero3():
    totals = [planned(LLAMA, num_gpus=n).total_gib for n in (1, 2, 4, 8, 16)]
    states = [planned(LLAMA, num_gpus=n).model_states_gib for n in (1, 2, 4, 8, 16)]
    assert totals == sorted(totals, reverse=True) and len(set(totals)) == len(totals)
    assert states == sorted(states, reverse=True) and len(set(states)) == len(states)


def test_offload_reduces_gpu_memory():
    none = planned(LLAMA)
    optimizer = planned(LLAMA, offload_optimizer=True)
    everything = planned(LLAMA, offload_optimizer=True, offload_params=True)
    assert none.model_states_gib > optimizer.model_states_gib > everything.model_states_gib
    assert none.total_gib > optimizer.total_gib > everything.total_gib
    assert everything.reference_gib == 0  # TRL's ZeRO-3 reference keeps the policy's parameter offload
    assert planned(LLAMA, zero_stage=2, offload_optimizer=True).total_gib < planned(LLAMA, zero_stage=2).total_gib


@pytest.mark.parametrize("zero_stage", [0, 2, 3])
def test_lora_reduces_memory_and_drops_the_reference(zero_stage):
    full = planned(LLAMA, zero_stage=zero_stage)
    lora = planned(LLAMA, zero_stage=zero_stage, lora_r=16)
    assert lora.model_states_gib < full.model_states_gib
    assert lora.total_gib < full.total_gib
    assert lora.reference_gib == 0 < full.reference_gib
    assert lora.trainable_params == PRESETS["meta-llama/Llama-3.1-8B-Instruct"].lora_params(16) == 41_943_040


def test_workload_knobs_move_the_right_parts():
    base = planned(LLAMA)
    assert planned(LLAMA, gradient_checkpointing=False).training_activations_gib > 10 * base.training_activations_gib
    assert planned(LLAMA, ds3_gather_for_generation=False).gathered_params_gib == 0
    assert planned(LLAMA, beta=0.0).reference_gib == 0
    assert planned(LLAMA, per_device_train_batch_size=8).training_gib > base.training_gib


def test_fits_and_table(tmp_path):
    rows = fits_table(_paper_config(tmp_path), models=[LLAMA], gpu_memory_gb=(80, 24))
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
        (dict(per_device_train_batch_size=0), "per_device_train_batch_size"),
        (dict(max_completion_length=2.5), "max_completion_length"),
        (dict(lora_r=0), "lora_r"),
        (dict(beta=-0.1), "beta"),
    ],
)
def test_bad_inputs_raise_value_errors_that_name_the_fix(kwargs, message):
    arch = kwargs.pop("arch", LLAMA)
    with pytest.raises(ValueError, match=message):
        planned(arch, **kwargs)


def test_bad_architectures_raise():
    with pytest.raises(ValueError, match="lacks hidden_size"):
        arch_from_config({"num_hidden_layers": 2})
    with pytest.raises(ValueError, match="multiple of num_kv_heads"):
        ModelArch("x", hidden_size=8, num_layers=1, num_heads=3, num_kv_heads=2, intermediate_size=8, vocab_size=4)
    with pytest.raises(ValueError, match="gpu_memory_gb"):
        planned(LLAMA).fits(0)


def test_cli_plan_and_table(capsys):
    assert plan_cli.run(["--model_name_or_path", LLAMA, "--offload_optimizer", "--gpu_memory_gb", "40"]) == 0
    out = capsys.readouterr().out
    assert "ZeRO-3 + offload optimizer" in out and "-> fits in 40 GB" in out
    argv = ["--model_name_or_path", LLAMA, "--use_peft", "--zero", "2", "--per_device_train_batch_size", "16", "--json"]
    assert plan_cli.run(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["lora"] and payload["zero_stage"] == 2 and payload["reference_gib"] == 0
    assert plan_cli.run(["--table", "--max_completion_length", "300", "--max_prompt_length", "256"]) == 0
    assert "| Phi-3.5-mini-instruct | 8x24GB |" in capsys.readouterr().out
    assert plan_cli.run(["--model_name_or_path", LLAMA, "--zero", "2", "--offload_params"]) == 2
    assert "only under ZeRO-3" in capsys.readouterr().err


def test_cli_plan_reads_the_deepspeed_json_and_a_recipe(tmp_path, capsys):
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[2] / "deepspeed_configs" / "zero3_offload_all.json"
    recipe = tmp_path / "run.yaml"
    recipe.write_text(f"deepspeed: {shipped}\nmax_completion_length: 128\nmax_prompt_length: 128\nbeta: 0.0\n")
    assert plan_cli.run(["--config", str(recipe), "--model_name_or_path", LLAMA, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["zero_stage"], payload["offload_optimizer"], payload["offload_params"]) == (3, True, True)
    assert payload["reference_gib"] == 0  # beta = 0: no reference model


def test_latro_plan_is_a_trl_subcommand():
    from argparse import ArgumentParser

    from trl import TrlParser

    subparsers = ArgumentParser(prog="latro").add_subparsers(dest="command", parser_class=TrlParser)
    parser = plan_cli.make_parser(subparsers)
    args, config, model_args = parser.parse_args_and_config(
        ["--model_name_or_path", LLAMA, "--gpus", "16", "--zero", "3", "--offload_optimizer"]
    )
    assert args.gpus == 16 and args.zero == 3 and args.offload_optimizer
    assert model_args.model_name_or_path == LLAMA and config.max_completion_length == 500
    assert parser.prog == "latro plan"


# The command that writes docs/memory.md's fits table (LaTROConfig's defaults, prompts of at most 256 tokens).
TABLE_COMMAND = ["--table", "--max_prompt_length", "256"]


def test_docs_memory_table_is_up_to_date(capsys):
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "memory.md"
    assert plan_cli.run(TABLE_COMMAND) == 0
    table = capsys.readouterr().out.strip()
    assert table.startswith("| Model | Setup |")
    assert table in docs.read_text(), f"regenerate with: latro plan {' '.join(TABLE_COMMAND)}"
    assert f"latro plan {' '.join(TABLE_COMMAND)}" in docs.read_text()


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

    config = _paper_config(tmp_path, gradient_accumulation_steps=2)  # 2 micro batches of 16 per generation
    by_hand = dict(
        num_gpus=8, zero_stage=3, per_device_train_batch_size=16, num_generations=16, steps_per_generation=2,
        max_prompt_length=256, max_completion_length=500, beta=0.05, gradient_checkpointing=True, use_deepspeed=False,
    )  # fmt: skip
    assert plan_for_config(LLAMA, config, use_deepspeed=False) == plan_memory(LLAMA, **by_hand)
    lora = plan_for_config(LLAMA, config, peft_config=LoraConfig(r=8), use_deepspeed=False)
    assert lora == plan_memory(LLAMA, **by_hand, lora_r=8) and lora.reference_gib == 0
    assert lora.kv_cache_gib == pytest.approx(kv_cache_bytes(resolve_arch(LLAMA), 756, 32) / GIB)
    shorter = plan_for_config(LLAMA, _paper_config(tmp_path, max_completion_length=100), use_deepspeed=False)
    assert shorter.kv_cache_gib < lora.kv_cache_gib and shorter.training_activations_gib < lora.training_activations_gib
    without_reference = plan_for_config(LLAMA, _paper_config(tmp_path, beta=0.0), use_deepspeed=False)
    assert without_reference.reference_gib == 0
    checkpointing_off = _paper_config(tmp_path, gradient_checkpointing=False)
    assert plan_for_config(LLAMA, checkpointing_off).training_activations_gib > 10 * lora.training_activations_gib
    with pytest.raises(ValueError, match="pass prompt_length"):
        plan_for_config(LLAMA, _paper_config(tmp_path, max_prompt_length=None))
    unbounded = _paper_config(tmp_path, max_prompt_length=None)
    assert plan_for_config(LLAMA, unbounded, prompt_length=256) == plan_for_config(LLAMA, _paper_config(tmp_path))
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
