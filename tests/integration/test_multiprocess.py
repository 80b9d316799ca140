"""LaTRO on 2 processes (gloo on CPU): groups that straddle processes keep correct baselines; metrics are global."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

WORKER = Path(__file__).parent / "scripts" / "multiprocess_latro.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_JSONS = sorted((REPO_ROOT / "deepspeed_configs").glob("*.json"))
TIMEOUT = 420  # seconds; a healthy run takes well under half of it on 2 cores (DeepSpeed's first build included)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(tmp_path, deepspeed=None, model_as_path=False, fused=False, accelerate_config=None, uneven=False):
    """2 worker processes by torchrun, or by `accelerate launch --config_file accelerate_config` (from the repository
    root, where the shipped YAMLs' JSON paths start; the workers then take DeepSpeed from the launcher). A run that
    hangs fails the test after ``TIMEOUT`` seconds, its launcher and workers ended."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    model_dir = tmp_path / "model"
    tokenizer = make_tiny_tokenizer()
    make_tiny_model(tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    out = tmp_path / "out"
    if accelerate_config:
        launcher = ["accelerate.commands.launch", "--config_file", str(accelerate_config), "--num_processes", "2"]
        launcher += ["--main_process_ip", "127.0.0.1", "--main_process_port", str(_free_port())]
    else:
        launcher = ["torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
        launcher += ["--master_port", str(_free_port())]
    command = [sys.executable, "-m", *launcher, str(WORKER), str(out), str(model_dir)]
    command += [str(deepspeed or ""), "1" if model_as_path else "", "1" if fused else "", "1" if uneven else ""]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "launch.log"  # a file, not a pipe: workers that outlive their launcher would hold a pipe open
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO_ROOT)
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_with_descendants(process.pid)  # torchrun's workers run in sessions of their own
            process.wait()
            pytest.fail(f"2-process run still running after {TIMEOUT} s (a hang?):\n{log.read_text()[-5000:]}")
    assert process.returncode == 0, log.read_text()[-8000:]
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def _step_logs(rank):
    # step_time is each process's own wall clock; every other metric is reduced over processes.
    return [{k: v for k, v in e.items() if k != "step_time"} for e in rank["log_history"] if "reward" in e]


def _kill_with_descendants(pid: int) -> None:
    """SIGKILL a process and every process below it (read from /proc: the workers are not in its process group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    doomed, stack = [], [pid]
    while stack:
        doomed.append(stack.pop())
        stack.extend(children.get(doomed[-1], []))
    for victim in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def _check(ranks):
    assert len(ranks[0]["records"]) == 2  # two generation batches, one per step
    assert _step_logs(ranks[0]) == _step_logs(ranks[1])
    for step, (r0, r1) in enumerate(zip(ranks[0]["records"], ranks[1]["records"], strict=True)):
        # The 4 rationales of one question are split 2 + 2 over the processes (RepeatSampler layout).
        assert len(set(r0["answers"] + r1["answers"])) == 1
        if "advantages" not in r0:  # computed in the loss (score_with_training_pass)
            continue
        advantages = r0["advantages"] + r1["advantages"]
        assert abs(sum(advantages)) < 1e-3
        if "rewards" not in r0:
            continue
        rewards = r0["rewards"] + r1["rewards"]
        for k, advantage in enumerate(advantages):  # leave-one-out over the whole group, across processes
            others = [r for j, r in enumerate(rewards) if j != k]
            assert advantage == pytest.approx(rewards[k] - sum(others) / 3, abs=2e-3)
        assert _step_logs(ranks[0])[step]["reward"] == pytest.approx(sum(rewards) / 4, abs=2e-3)


def _check_uneven(ranks):
    """Each process held its own group of 4 rows, whose lengths differ between the processes by construction."""
    assert _step_logs(ranks[0]) == _step_logs(ranks[1]) and len(_step_logs(ranks[0])) == 2
    for rank in ranks:
        for record in rank["records"]:
            assert len(set(record["answers"])) == 1
            assert abs(sum(record["advantages"])) < 1e-3
            if "rewards" in record:
                rewards = record["rewards"]
                for k, advantage in enumerate(record["advantages"]):
                    others = [r for j, r in enumerate(rewards) if j != k]
                    assert advantage == pytest.approx(rewards[k] - sum(others) / 3, abs=2e-3)
    assert all(
        e["rationale/mean_length"] == pytest.approx((1 + 2 + 11 + 12 + 4 * 12) / 8) for e in _step_logs(ranks[0])
    )


@pytest.mark.slow
@pytest.mark.parametrize("deepspeed", ["", "zero3.json"])
def test_processes_whose_rationale_lengths_differ_make_the_same_forward_calls(tmp_path, deepspeed):
    """Process 0 would cut its rows into several length groups and process 1 into one. Each forward of the wrapped
    model is a collective (DDP's buffer broadcast; under ZeRO-3 the weight gathers, with length_groups set
    explicitly), so unequal counts hang: the processes agree on one count, and the run finishes."""
    if deepspeed:
        pytest.importorskip("deepspeed")
    ds_json = _really_sharded_copy(REPO_ROOT / "deepspeed_configs" / deepspeed, tmp_path) if deepspeed else None
    _check_uneven(_launch(tmp_path, deepspeed=ds_json, model_as_path=bool(deepspeed), uneven=True))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """One plain DDP run (separate scoring pass), the reference for the DeepSpeed runs below."""
    return _launch(tmp_path_factory.mktemp("ddp"))


@pytest.mark.slow
def test_two_processes_ddp(tmp_path, ddp_run):
    separate = ddp_run
    _check(separate)
    # Rewards from the training pass: rows reach the loss shuffled and split over processes; same numbers.
    fused = _launch(tmp_path / "fused", fused=True)
    _check(fused)
    for a, b in zip(_step_logs(fused[0]), _step_logs(separate[0]), strict=True):
        for key in ("loss", "reward", "kl", "answer_logp", "grad_norm", "loss/policy"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-4), key


def _really_sharded_copy(path: Path, tmp_path: Path) -> Path:
    """The shipped ZeRO-3 JSON with one key changed: `stage3_param_persistence_threshold` 0 instead of "auto".

    Needed for the reference only. The HF Trainer fills "auto" with 10 x hidden size (320 here) for the policy, but
    TRL's `prepare_deepspeed` builds the reference's engine before that, from the unfilled config (its own 10 x hidden
    size update uses dotted top-level keys, which DeepSpeed ignores), and DeepSpeed reads "auto" as its default, 1e5
    elements: every parameter of the tiny model would stay whole on each process (of a 7-8B model, only the norms).
    Everything else, precision included, is the shipped file's."""
    config = json.loads(path.read_text())
    config["zero_optimization"]["stage3_param_persistence_threshold"] = 0
    copy = tmp_path / f"{path.stem}_persistence0.json"
    copy.write_text(json.dumps(config))
    return copy


@pytest.mark.slow
@pytest.mark.parametrize(
    "path, model_as_path, as_shipped",
    [
        pytest.param(p, False, True, id=f"{p.name}-model_object-as_shipped")
        for p in SHIPPED_JSONS
        if p.name in ("zero2.json", "zero3.json")
    ]
    + [
        pytest.param(p, True, False, id=f"{p.name}-model_path-persistence0")
        for p in SHIPPED_JSONS
        if p.name.startswith("zero3")
    ],
)
def test_shipped_deepspeed_json_matches_ddp_with_bf16_off(tmp_path, path, model_as_path, as_shipped, ddp_run):
    """Each shipped DeepSpeed JSON runs LaTRO on 2 CPU processes with bf16=False and gives DDP's numbers (same seed).

    The JSONs leave precision to the training config ("auto"); one with `"bf16": {"enabled": true}` stops this run
    with "ds bf16.enabled=True vs hf bf16|bf16_full_eval=False". zero2.json and zero3.json (policy handed over as an
    object built after the config, so created sharded by `zero.Init`, reference passed in) are passed unchanged, by
    their path in deepspeed_configs/. The ZeRO-3 files with the policy as a path (TRL loads policy and reference) run
    with the persistence threshold at 0 (see `_really_sharded_copy`), so that beta > 0 gives a reference that is
    really sharded too. The offload JSONs compile DeepSpeed's `cpu_adam` the first time (about 2 minutes)."""
    pytest.importorskip("deepspeed")
    shipped = json.loads(path.read_text())
    stage = shipped["zero_optimization"]["stage"]
    ds_json = path if as_shipped else _really_sharded_copy(path, tmp_path)
    zero = _launch(tmp_path, deepspeed=ds_json, model_as_path=model_as_path)
    _check(zero)
    for a, b in zip(_step_logs(zero[0]), _step_logs(ddp_run[0]), strict=True):
        for key in ("loss", "reward", "kl", "answer_logp", "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-4), key
    for rank in zero:
        ds = rank["deepspeed"]
        assert ds["stage"] == stage
        assert (ds["bf16"], ds["fp16"]) == (False, False)  # "auto", resolved from bf16=False / fp16=False
        assert ds["policy"]["dtypes"] == ["torch.float32"]
        policy, reference = ds["policy"], ds["reference"]  # beta > 0: a reference is built
        if "offload_optimizer" in shipped["zero_optimization"]:
            assert ds["optimizers"][-1] == "DeepSpeedCPUAdam"  # from the JSON's "optimizer" block
        if stage == 2:  # gradients and optimizer states are sharded, the weights are whole on every process
            assert policy["whole"] == policy["full"] and reference["whole"] == reference["full"]
            continue
        for part in (policy, reference):
            assert part["partition"] * 2 == pytest.approx(part["full"], abs=16)  # half each (padding aside)
        # Between forward passes only the parameters under the persistence threshold stay whole: for the policy
        # ("auto" = 10 x hidden size = 320) the 5 norm weights of 32; with the threshold at 0, nothing.
        assert policy["whole"] == (5 * 32 if as_shipped else 0)
        if not as_shipped:
            assert reference["whole"] == 0


@pytest.mark.slow
def test_shipped_accelerate_yaml_with_bf16_off(tmp_path, ddp_run):
    """`accelerate launch --config_file deepspeed_configs/accelerate/zero3_1node_8gpu.yaml` (its zero3.json, both
    unchanged; `--num_processes 2` on the command line) with bf16=False in the training config: the YAML sets no
    `mixed_precision`, the JSON's "auto" follows the training config. Same numbers as DDP."""
    pytest.importorskip("deepspeed")
    yaml_path = REPO_ROOT / "deepspeed_configs" / "accelerate" / "zero3_1node_8gpu.yaml"
    zero = _launch(tmp_path, model_as_path=True, accelerate_config=yaml_path.relative_to(REPO_ROOT))
    _check(zero)
    for a, b in zip(_step_logs(zero[0]), _step_logs(ddp_run[0]), strict=True):
        for key in ("loss", "reward", "kl", "answer_logp", "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-4), key
    for rank in zero:
        ds = rank["deepspeed"]
        assert (ds["stage"], ds["bf16"], ds["fp16"]) == (3, False, False)
        assert ds["policy"]["whole"] == 5 * 32  # "auto" persistence threshold: only the norms stay whole
