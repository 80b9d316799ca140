"""The shipped DeepSpeed JSONs and accelerate YAMLs (deepspeed_configs/) parse and are accepted by their consumers.

What is checked without launching processes: every JSON parses, leaves to the HF Trainer ("auto") what it fills in
(precision included: `bf16.enabled` and `fp16.enabled` are "auto", so the training config's `bf16`/`fp16` decide),
and carries no `train_batch_size` in the ZeRO-3 files (on CPU with `use_cpu=True` DeepSpeed builds its config before
the comms layer knows the world size, and the batch assertion fails). Each JSON is then accepted by
`transformers.TrainingArguments(deepspeed=..., use_cpu=True)` in bf16, fp16 and fp32, filled by the HF Trainer's own
`trainer_config_finalize` for a tiny model, and parsed by DeepSpeed's own `DeepSpeedConfig` with every "auto" resolved;
and by accelerate's `DeepSpeedPlugin(hf_ds_config=...)`, also the way `accelerate launch` hands it over (environment
variables, no `deepspeed=` in the training config). Every accelerate YAML loads through accelerate's own config loader
and names an existing JSON (paths relative to the repository root). The real multi-process runs of the shipped JSONs
are in `tests/integration/test_multiprocess.py` (LaTRO, bf16 off) and `tests/integration/ds_rloo_smoke.py` (see
deepspeed_configs/README.md).
"""

import json
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "deepspeed_configs"
JSONS = sorted(CONFIG_DIR.glob("*.json"))
YAMLS = sorted((CONFIG_DIR / "accelerate").glob("*.yaml"))
# The values the HF Trainer fills from TrainingArguments; a number here would silently override the training config.
TRAINER_FILLED = ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping")
# Training-config precision flags -> the (bf16.enabled, fp16.enabled) the "auto" values must resolve to.
PRECISIONS = {
    "bf16": ({"bf16": True, "fp16": False}, (True, False)),
    "fp16": ({"bf16": False, "fp16": True}, (False, True)),
    "fp32": ({"bf16": False, "fp16": False}, (False, False)),
}


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_the_expected_files_are_shipped():
    assert {p.name for p in JSONS} == {
        "zero2.json",
        "zero3.json",
        "zero3_offload_optimizer.json",
        "zero3_offload_all.json",
    }
    assert {p.name for p in YAMLS} == {
        "ddp_1node_8gpu.yaml",
        "zero2_1node_8gpu.yaml",
        "zero3_1node_8gpu.yaml",
        "zero3_offload_1node_8gpu.yaml",
        "zero3_multinode.yaml",
    }


@pytest.fixture(autouse=True)
def _no_leaked_deepspeed_config():
    """TrainingArguments(deepspeed=...) registers a global weak reference (zero.Init for later model loads)."""
    yield
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()


@pytest.mark.parametrize("path", JSONS, ids=lambda p: p.name)
def test_json_has_auto_precision_and_auto_values(path):
    config = _load(path)
    zero = config["zero_optimization"]
    # Precision follows the training config (`--bf16` / `--fp16`), as in the Hugging Face examples: a hard-coded
    # `true` makes every run with bf16=False (CPU, fp16 GPUs) stop with "ds bf16.enabled=True vs hf bf16=False".
    assert config["bf16"] == {"enabled": "auto"}
    assert config["fp16"]["enabled"] == "auto"
    assert "amp" not in config  # apex
    for key in TRAINER_FILLED:
        assert config[key] == "auto", key
    assert zero["reduce_bucket_size"] == "auto"
    if "optimizer" in config:
        assert set(config["optimizer"]["params"].values()) == {"auto"}
    assert "scheduler" not in config  # the HF scheduler follows --lr_scheduler_type (linear decay, as in the paper)


@pytest.mark.parametrize("path", JSONS, ids=lambda p: p.name)
def test_json_stage_and_offload_match_the_file_name(path):
    config = _load(path)
    zero = config["zero_optimization"]
    assert zero["stage"] == (3 if path.name.startswith("zero3") else 2)
    assert ("offload_optimizer" in zero) == ("offload" in path.name)
    assert ("offload_param" in zero) == path.name.endswith("offload_all.json")
    # An offloaded optimizer should be DeepSpeed's CPU Adam (from the "optimizer" block), not torch's AdamW on CPU.
    assert ("optimizer" in config) == ("offload" in path.name)
    if zero["stage"] == 3:
        assert "train_batch_size" not in config
        assert zero["stage3_gather_16bit_weights_on_model_save"] is True
        assert zero["stage3_prefetch_bucket_size"] == zero["stage3_param_persistence_threshold"] == "auto"


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("path", JSONS, ids=lambda p: p.name)
def test_json_accepted_by_training_arguments_hf_trainer_and_deepspeed(path, precision, tmp_path, model):
    pytest.importorskip("deepspeed")
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers import TrainingArguments

    flags, (bf16, fp16) = PRECISIONS[precision]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        deepspeed=str(path),
        use_cpu=True,
        **flags,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=3,
        max_grad_norm=0.5,
        report_to=[],
    )
    hf_config = args.hf_deepspeed_config
    hf_config.trainer_config_finalize(args, model, num_training_steps=10)  # raises on any mismatch with args
    filled = hf_config.config
    assert "auto" not in json.dumps(filled)
    assert filled["train_micro_batch_size_per_gpu"] == 2 and filled["gradient_clipping"] == 0.5
    assert (filled["bf16"]["enabled"], filled["fp16"]["enabled"]) == (bf16, fp16)
    ds_config = DeepSpeedConfig(filled)
    assert (ds_config.bfloat16_config.enabled, ds_config.float16_config.enabled) == (bf16, fp16)
    assert ds_config.zero_optimization_stage == _load(path)["zero_optimization"]["stage"]
    assert ds_config.gradient_accumulation_steps == 3 and ds_config.train_batch_size == 6  # world size 1 here


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("path", JSONS, ids=lambda p: p.name)
def test_json_from_accelerate_launch_follows_the_training_config(path, precision, tmp_path, model, monkeypatch):
    """`accelerate launch` with a DeepSpeed YAML: the JSON arrives through the environment, and the shipped YAMLs set
    no `mixed_precision` (accelerate then exports "no"). The precision comes from the training config."""
    pytest.importorskip("deepspeed")
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", str(path))
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    flags, (bf16, fp16) = PRECISIONS[precision]
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, **flags, report_to=[])
    plugin = args.deepspeed_plugin
    assert (plugin.deepspeed_config["bf16"]["enabled"], plugin.deepspeed_config["fp16"]["enabled"]) == (bf16, fp16)
    # What the HF Trainer does next (propagate_args_to_deepspeed, then deepspeed_init): raises on a mismatch.
    hf_config = HfTrainerDeepSpeedConfig(plugin.deepspeed_config)
    hf_config.trainer_config_process(args)
    hf_config.trainer_config_finalize(args, model, num_training_steps=10)
    assert "auto" not in json.dumps(hf_config.config)


@pytest.mark.parametrize("path", JSONS, ids=lambda p: p.name)
def test_json_accepted_by_accelerate_deepspeed_plugin(path):
    pytest.importorskip("deepspeed")
    from accelerate.utils import DeepSpeedPlugin

    plugin = DeepSpeedPlugin(hf_ds_config=str(path))
    zero = _load(path)["zero_optimization"]
    assert plugin.zero_stage == zero["stage"]
    assert plugin.offload_optimizer_device == zero.get("offload_optimizer", {}).get("device", "none")
    assert plugin.offload_param_device == zero.get("offload_param", {}).get("device", "none")
    assert plugin.zero3_init_flag is (zero["stage"] == 3)


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_accelerate_yaml_parses_and_points_to_a_json(path):
    from accelerate.commands.config.config_args import load_config_from_file

    raw = yaml.safe_load(path.read_text())
    cluster = load_config_from_file(str(path))  # accelerate's own loader: rejects unknown keys
    assert cluster.num_processes == 8 * cluster.num_machines
    if path.name.startswith("ddp"):
        assert raw["distributed_type"] == "MULTI_GPU" and raw["mixed_precision"] == "bf16"
        return
    assert raw["distributed_type"] == "DEEPSPEED"
    # With a DeepSpeed JSON, accelerate refuses mixed_precision (and the other ZeRO knobs) in the YAML.
    assert "mixed_precision" not in raw
    assert set(raw["deepspeed_config"]) <= {"deepspeed_config_file", "zero3_init_flag", "deepspeed_multinode_launcher"}
    json_path = REPO_ROOT / raw["deepspeed_config"]["deepspeed_config_file"]
    assert json_path.is_file(), f"{path.name} names {json_path}, relative to the repository root"
    assert raw["deepspeed_config"].get("zero3_init_flag", False) is (
        _load(json_path)["zero_optimization"]["stage"] == 3
    )
    assert "accelerate launch --config_file deepspeed_configs/accelerate/" + path.name in path.read_text()


def test_multinode_yaml_documents_its_placeholders():
    path = CONFIG_DIR / "accelerate" / "zero3_multinode.yaml"
    raw = yaml.safe_load(path.read_text())
    assert raw["num_machines"] == 2 and raw["num_processes"] == 16 and raw["machine_rank"] == 0
    text = path.read_text()
    for placeholder in ("--machine_rank", "--main_process_ip", "main_process_port"):
        assert placeholder in text


def test_ddp_yaml_bf16_holds_unless_the_training_config_asks_for_fp16(tmp_path, monkeypatch):
    """As deepspeed_configs/README.md says: `accelerate launch` exports the DDP YAML's `mixed_precision: bf16`, and
    the training config keeps it even with bf16=False (only fp16=True replaces it). The DeepSpeed YAMLs set none."""
    from transformers import TrainingArguments

    raw = yaml.safe_load((CONFIG_DIR / "accelerate" / "ddp_1node_8gpu.yaml").read_text())
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", raw["mixed_precision"])
    common = dict(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    assert TrainingArguments(**common, bf16=False).mixed_precision == "bf16"
    assert TrainingArguments(**common, bf16=False, fp16=True).mixed_precision == "fp16"
