"""What the benchmarks share: how they read a run's settings, the model every trainer loads, the data, memory
sampling, probes, the environment.

Every benchmark reads the run it measures as ``latro train`` does: ``LaTROConfig``'s own fields, through TRL's
``TrlParser``, beside a small dataclass of what is the benchmark's own (output, steps to time, rounds...), which
inherits ``latro train``'s data set flags (``--dataset_name``, ``--dataset_path``, ...: ``latro_trl.data.registry``).
Each benchmark's defaults are a recipe in ``bench/recipes/<script>.yaml``, used when no ``--config`` is given;
flags override it.

The scripts run from this folder (``python bench/<script>.py``), so Python puts ``bench/`` on the import path and
``from common import ...`` finds this module.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from latro_trl.cli.datasets import DatasetArguments

RECIPES = Path(__file__).resolve().parent / "recipes"
RSS_INTERVAL_S = 0.002


# ---------------------------------------------------------------------------------------------------- settings


@dataclass
class BenchArguments(DatasetArguments):
    """What every benchmark adds to the run's ``LaTROConfig``: the model, the data split, threads, the output.

    The data set flags are ``latro train``'s (``--dataset_name synthetic|gsm8k|arc_challenge|<prompt/answer
    .jsonl>``, ``--dataset_path`` for a named set's original files, the synthetic generator's knobs).
    """

    model: str = field(default="tiny", metadata={"help": "tiny (a random Llama) | embedded | a local model folder"})
    dataset_train_split: str = field(default="train", metadata={"help": "Split the prompts come from."})
    tiny_hidden_size: int = field(default=32, metadata={"help": "Hidden size of the tiny model."})
    tiny_layers: int = field(default=2, metadata={"help": "Layers of the tiny model."})
    threads: int | None = field(default=None, metadata={"help": "torch.set_num_threads (default: torch's choice)."})
    output: str | None = field(default=None, metadata={"help": "Write the JSON result here."})
    markdown: bool = field(default=False, metadata={"help": "Print Markdown tables to stdout."})
    quiet: bool = field(default=False, metadata={"help": "No per-step progress on stderr."})


def parse_run(script_type: type, argv: Sequence[str] | None, recipe: str) -> tuple[Any, dict[str, Any]]:
    """``(script arguments, settings)`` from ``TrlParser((script_type, LaTROConfig))``.

    ``settings`` holds every ``LaTROConfig`` field as the recipe and the flags give it, before the config's
    ``__post_init__`` derives anything (so :func:`latro_config` can build one config per trainer with overrides).
    The config is built once here too, so that a wrong setting fails with the config's own message. Without
    ``--config``, ``bench/recipes/{recipe}`` is used.
    """
    from trl import TrlParser

    from latro_trl import LaTROConfig

    args = list(sys.argv[1:] if argv is None else argv)
    if "--config" not in args:
        args = ["--config", str(RECIPES / recipe), *args]
    parser = TrlParser((script_type, LaTROConfig))
    script_args, _ = parser.parse_args_and_config(args)  # the recipe is now the parser's defaults
    at = args.index("--config")
    raw, _ = parser.parse_known_args(args[:at] + args[at + 2 :])
    names = {f.name for f in dataclasses.fields(LaTROConfig) if f.init}
    return script_args, {name: value for name, value in vars(raw).items() if name in names}


def latro_config(settings: dict[str, Any], **overrides: Any) -> Any:
    """A ``LaTROConfig`` from :func:`parse_run`'s settings with ``overrides`` (output folder, a run's variant)."""
    from latro_trl import LaTROConfig

    return LaTROConfig(**{**settings, **overrides})


def rloo_config(settings: dict[str, Any], shared: Iterable[str], **overrides: Any) -> Any:
    """TRL's ``RLOOConfig`` with the ``shared`` fields of ``settings`` and ``overrides``; every other field keeps
    RLOO's own default (``LaTROConfig`` changes a few defaults: learning rate, batch, K, L, dropout)."""
    from trl import RLOOConfig

    return RLOOConfig(**{**{name: settings[name] for name in shared}, **overrides})


def prompts_per_step(settings: dict[str, Any]) -> int:
    """Questions per optimizer step: ``per_device_train_batch_size`` rows hold whole groups of K."""
    return settings["per_device_train_batch_size"] // settings["num_generations"]


def script_settings(script_args: Any, hidden: Iterable[str] = ()) -> dict[str, Any]:
    """The benchmark's own arguments for the JSON result (``hidden`` left out)."""
    return {k: v for k, v in dataclasses.asdict(script_args).items() if k not in set(hidden)}


# ---------------------------------------------------------------------------------------------------- models, data


def load_bench_model(name: str, tiny_hidden_size: int = 32, tiny_layers: int = 2) -> tuple[Any, Any, str]:
    """``(model, tokenizer, description)`` for ``tiny`` (a random Llama), ``embedded`` or a local model folder."""
    from latro_trl.models import load_model_and_tokenizer
    from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

    if name == "tiny":
        tokenizer = make_tiny_tokenizer()
        model = make_tiny_model(tokenizer, hidden_size=tiny_hidden_size, num_layers=tiny_layers)
        return model, tokenizer, f"tiny random Llama (hidden {tiny_hidden_size}, {tiny_layers} layers)"
    model, tokenizer = load_model_and_tokenizer(name)
    if name == "embedded":
        return model, tokenizer, "SmolLM2-135M-Instruct (embedded GGUF Q4_1, dequantized to float32)"
    return model, tokenizer, name


def save_bench_model(name: str, folder: Path, **tiny: int) -> tuple[str, Any, dict[str, Any]]:
    """Save the chosen model (merged, with its tokenizer) to ``folder`` once, so that every trainer loads its own
    policy and reference from the same weights the same way (TRL's RLOOTrainer can only build its reference by
    re-loading the policy from a path). A local folder is used as it is. Returns the path, the tokenizer and facts."""
    from latro_trl.models import load_tokenizer, save_merged

    start = time.perf_counter()
    if name not in ("tiny", "embedded"):
        return name, load_tokenizer(name), {"name": name, "load_s": round(time.perf_counter() - start, 2)}
    model, tokenizer, description = load_bench_model(name, **tiny)
    facts = {
        "name": description,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(next(model.parameters()).dtype),
        "load_s": round(time.perf_counter() - start, 2),
    }
    save_merged(model, tokenizer, folder)
    return str(folder), tokenizer, facts


def load_bench_data(args: BenchArguments, rows: int) -> tuple[Any, str]:
    """The first ``rows`` prompts of ``--dataset_name`` (through ``latro_trl.data.registry``: a ``.jsonl`` name is a
    prompt/answer file of your own; GSM8K's original files are ``--dataset_name gsm8k --dataset_path <folder or
    file>``), with only the ``prompt`` and ``answer`` columns, and a description."""
    dataset = args.load(args.dataset_train_split, rows)
    if args.dataset_path and Path(args.dataset_path).is_file():  # the file is the split
        name = f"{args.dataset_name} from {args.dataset_path}"
    else:
        where = f" from {args.dataset_path}" if args.dataset_path else ""
        name = f"{args.dataset_name} ({args.dataset_train_split}){where}"
    return dataset.select_columns(["prompt", "answer"]), name


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def run_and_report(
    args: BenchArguments, settings: dict[str, Any], run: Callable[..., dict[str, Any]], markdown: Callable
) -> dict[str, Any]:
    """Run a benchmark; write its JSON to ``--output`` and print its Markdown with ``--markdown``."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args, settings)
    write_json(args.output, result)
    if args.markdown:
        print(markdown(result))
    return result


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table (floats to 4 significant digits)."""
    cells = [header, ["---"] * len(header), *rows]
    return ["| " + " | ".join(f"{c:.4g}" if isinstance(c, float) else str(c) for c in row) + " |" for row in cells]


def write_json(path: str | None, result: dict[str, Any], indent: int = 2) -> None:
    """Write ``result`` to ``path`` (folders made as needed); nothing when ``path`` is ``None``."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=indent) + "\n")


# ---------------------------------------------------------------------------------------------------- measurement


def rss_bytes() -> int:
    """Resident set size of this process, from ``/proc/self/statm`` (second field, in pages)."""
    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def release_free_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS, so that the RSS before a step is its live memory."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class MemoryMonitor:
    """Peak memory of one step, overall and per phase (generation / scoring / training).

    CPU: a daemon thread samples RSS every ``interval_s`` seconds and keeps the maximum per phase. CUDA:
    ``torch.cuda.max_memory_allocated`` is read and reset at every phase change.
    """

    def __init__(self, device: torch.device, interval_s: float = RSS_INTERVAL_S) -> None:
        self.cuda = device.type == "cuda"
        self.interval_s = interval_s
        self._phase = "scoring"
        self._peaks: dict[str, int] = {}
        self._baseline = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0

    def start_step(self) -> None:
        """Mark the memory before the step and start sampling; the first phase is ``scoring`` (``_prepare_inputs``)."""
        release_free_memory()
        self._peaks = {}
        self._phase = "scoring"
        self.samples = 0
        if self.cuda:
            torch.cuda.synchronize()
            self._baseline = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            return
        self._baseline = rss_bytes()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()

    def phase(self, name: str) -> None:
        """Switch the phase that later samples are charged to."""
        if self.cuda:
            torch.cuda.synchronize()
            self._record(self._phase, torch.cuda.max_memory_allocated())
            torch.cuda.reset_peak_memory_stats()
        else:
            self._record(self._phase, rss_bytes())
        self._phase = name

    def end_step(self) -> dict[str, Any]:
        """Stop sampling; peak, baseline and transient (peak - baseline) bytes, overall and per phase."""
        if self.cuda:
            self.phase(self._phase)
        else:
            self._record(self._phase, rss_bytes())
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
        peak = max(self._peaks.values(), default=self._baseline)
        return {
            "kind": "cuda_allocated" if self.cuda else "rss",
            "baseline_bytes": self._baseline,
            "peak_bytes": peak,
            "transient_bytes": peak - self._baseline,
            "phase_transient_bytes": {name: value - self._baseline for name, value in self._peaks.items()},
            "samples": self.samples,
        }

    def _record(self, phase: str, value: int) -> None:
        if value > self._peaks.get(phase, -1):
            self._peaks[phase] = value

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._record(self._phase, rss_bytes())
            self.samples += 1
            time.sleep(self.interval_s)


@dataclass
class StepProbe:
    """Counters of one step: phase times, forward calls and tokens, generated lengths."""

    generation_s: float = 0.0
    prepare_s: float = 0.0
    forward_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    forward_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    forward_tokens: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    generate_calls: int = 0
    completion_lengths: list[int] = field(default_factory=list)
    prompt_lengths: list[int] = field(default_factory=list)


class TrainerProbe:
    """Instruments one trainer without changing what it computes.

    Wraps ``trainer._generate`` and ``trainer._prepare_inputs`` (instance attributes shadowing the methods) to time
    generation and the whole scoring phase and keep the generated lengths. With ``count_passes`` it also puts forward
    pre/post hooks on the policy and the reference model to count and time their forward calls:
    ``<model>/generate`` (decode steps inside ``generate``), ``<model>/no_grad`` and ``<model>/grad`` (each hook
    synchronises CUDA, so leave it off where only the step time matters).
    """

    def __init__(self, trainer: Any, memory: MemoryMonitor, count_passes: bool = True) -> None:
        self.trainer = trainer
        self.memory = memory
        self.step = StepProbe()
        self._in_generation = False
        self._cuda = trainer.accelerator.device.type == "cuda"
        self._starts: dict[int, tuple[str, float]] = {}
        self._wrap("_generate", self._timed_generate)
        self._wrap("_prepare_inputs", self._timed_prepare)
        self._hooks = self._hook(trainer.model, "policy") if count_passes else []
        if count_passes and getattr(trainer, "ref_model", None) is not None:
            self._hooks += self._hook(trainer.ref_model, "reference")

    def reset(self) -> None:
        self.step = StepProbe()

    def _sync(self) -> None:
        if self._cuda:
            torch.cuda.synchronize()

    def _wrap(self, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        setattr(self.trainer, name, wrapper(getattr(self.trainer, name)))

    def _timed_generate(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def generate(prompts: list) -> Any:
            self.memory.phase("generation")
            self._sync()
            start = time.perf_counter()
            self._in_generation = True
            try:
                output = original(prompts)
            finally:
                self._in_generation = False
                self._sync()
                self.step.generation_s += time.perf_counter() - start
                self.memory.phase("scoring")
            self.step.generate_calls += 1
            self.step.prompt_lengths.extend(len(ids) for ids in output[0])
            self.step.completion_lengths.extend(len(ids) for ids in output[1])
            return output

        return generate

    def _timed_prepare(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def prepare(batch: Any) -> Any:
            self.memory.phase("scoring")
            self._sync()
            start = time.perf_counter()
            output = original(batch)
            self._sync()
            self.step.prepare_s += time.perf_counter() - start
            self.memory.phase("training")
            return output

        return prepare

    def _hook(self, module: torch.nn.Module, role: str) -> list[Any]:
        def before(mod: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            if self._in_generation:
                kind = "generate"
            else:
                kind = "grad" if torch.is_grad_enabled() else "no_grad"
            key = f"{role}/{kind}"
            ids = kwargs.get("input_ids", args[0] if args else None)
            self.step.forward_calls[key] += 1
            if isinstance(ids, torch.Tensor):
                self.step.forward_tokens[key] += int(ids.numel())
            self._sync()
            self._starts[id(mod)] = (key, time.perf_counter())

        def after(mod: torch.nn.Module, args: tuple, output: Any) -> None:
            key, start = self._starts.pop(id(mod), ("", 0.0))
            if key:
                self._sync()
                self.step.forward_s[key] += time.perf_counter() - start

        return [
            module.register_forward_pre_hook(before, with_kwargs=True),
            module.register_forward_hook(after),
        ]


class StepClock(TrainerCallback):
    """Measures every optimizer step of ``trainer.train()`` from the callbacks the training loop calls.

    Per step, into ``records``: ``wall_s`` from ``on_step_begin`` to ``on_step_end`` (CUDA synchronised: data loading,
    logging and checkpoints fall outside), ``optimizer_s`` from ``on_pre_optimizer_step`` (after the backward and the
    gradient clipping) to ``on_step_end`` (optimizer and scheduler steps, ``zero_grad``), the :class:`TrainerProbe`'s
    counters (``probe``: generation and scoring time, generated lengths, forward passes with ``count_passes``) and,
    with ``per_step_memory``, the step's peak memory from ``memory`` (otherwise the caller reads ``memory`` over the
    whole run). ``report`` is called with each record as it is made (a progress line).
    """

    def __init__(self, trainer: Any, memory: MemoryMonitor, per_step_memory: bool = False, count_passes: bool = False,
                 report: Callable[[dict[str, Any]], None] | None = None) -> None:  # fmt: skip
        self.probe = TrainerProbe(trainer, memory, count_passes)
        self.memory, self.per_step_memory, self.report = memory, per_step_memory, report
        self.records: list[dict[str, Any]] = []
        self._begin = self._before_optimizer = 0.0

    def _now(self) -> float:
        self.probe._sync()
        return time.perf_counter()

    def on_step_begin(self, *_: Any, **__: Any) -> None:
        if self.per_step_memory:
            self.memory.start_step()  # collects garbage first, outside the timed window
        self.probe.reset()
        self._begin = self._now()

    def on_pre_optimizer_step(self, *_: Any, **__: Any) -> None:
        self._before_optimizer = self._now()

    def on_step_end(self, args: Any, state: Any, *_: Any, **__: Any) -> None:
        end = self._now()
        record = {"step": state.global_step, "wall_s": end - self._begin, "optimizer_s": end - self._before_optimizer}
        record |= {"probe": self.probe.step, "memory": self.memory.end_step() if self.per_step_memory else None}
        self.records.append(record)
        if self.report is not None:
            self.report(record)


def paired_step_ratios(results: list[dict], base: list[dict]) -> dict:
    """Each measured step over the same step of the same round of ``base`` (lists of runs, each with
    ``step_time_s``): the same questions and seed, run a few minutes apart. Their median and range show how far one
    step's ratio moves with the machine."""
    ratios = [
        step / base_step
        for result, base_result in zip(results, base, strict=False)
        for step, base_step in zip(result["step_time_s"], base_result["step_time_s"], strict=False)
    ]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "per_step": ratios}


def environment(device: torch.device) -> dict[str, Any]:
    """Versions, hardware and the git state of the checkout."""
    import accelerate
    import peft
    import transformers
    import trl

    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    total_kib: int | None = None
    with contextlib.suppress(OSError, IndexError, ValueError):
        total_kib = int(Path("/proc/meminfo").read_text().split()[1])
    commit = ""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        repo = Path(__file__).resolve().parent.parent
        commit = subprocess.check_output(["git", "-C", str(repo), "rev-parse", "HEAD"], text=True).strip()
        dirty = subprocess.check_output(["git", "-C", str(repo), "status", "--porcelain", "src"], text=True).strip()
        commit += " (src modified)" if dirty else ""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git_commit": commit,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(total_kib / 2**20, 1) if total_kib is not None else None,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": trl.__version__,
            "accelerate": accelerate.__version__,
            "peft": peft.__version__,
        },
    }
