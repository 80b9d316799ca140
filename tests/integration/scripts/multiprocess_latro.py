"""Worker for tests/integration/test_multiprocess.py: 2 LaTRO steps on one of several processes (gloo, CPU).

Launched by torchrun (or accelerate). Each process records, for every generation batch, its local rows'
advantages and rewards recomputed from independent forward passes, so the test can check that groups which straddle
processes get correct leave-one-out baselines and that the logged reward is the mean over all processes.

    torchrun --nproc_per_node 2 tests/integration/scripts/multiprocess_latro.py OUT_DIR MODEL_DIR [DEEPSPEED_JSON \
        [AS_PATH [FUSED [UNEVEN]]]]    # each flag "1" or "" (off)
    accelerate launch --config_file deepspeed_configs/accelerate/zero3_1node_8gpu.yaml --num_processes 2 \
        tests/integration/scripts/multiprocess_latro.py OUT_DIR MODEL_DIR "" 1    # DeepSpeed from the launcher

Training runs in fp32 (`bf16=False`): a DeepSpeed JSON must leave precision to the training config ("auto"). Under
DeepSpeed each process also records the precision DeepSpeed resolved, the optimizer chain, and how the policy's and
the reference's parameters are held (full size, this process's partition, elements resident whole).
"""

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from latro_trl import LaTROConfig, LaTROTrainer

BETA = 0.2


def sequence_logps(model, batch):
    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1]
    token_logps = torch.log_softmax(logits.float(), -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    completion = token_logps[:, -batch["completion_ids"].size(1) :]
    return (completion * batch["rationale_mask"]).sum(1), (completion * batch["answer_mask"]).sum(1)


def partitioning(model) -> dict:
    """Parameter elements of the model (ZeRO-3 keeps the full size in ``ds_numel``), of its partition on this process
    (``ds_tensor``), and those resident whole between forward passes (under ZeRO-3 only the persistent parameters,
    smaller than ``stage3_param_persistence_threshold``; the others are released to an empty tensor)."""
    params = list(model.parameters())
    return {
        "full": sum(getattr(p, "ds_numel", p.numel()) for p in params),
        "partition": sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in params),
        "whole": sum(p.data.numel() for p in params),
        "dtypes": sorted({str(p.dtype) for p in params}),
    }


def deepspeed_record(trainer) -> dict:
    config = trainer.accelerator.state.deepspeed_plugin.deepspeed_config
    record = {
        "stage": config["zero_optimization"]["stage"],
        "bf16": config.get("bf16", {}).get("enabled"),
        "fp16": config.get("fp16", {}).get("enabled"),
        "policy": partitioning(trainer.model_wrapped),
        "optimizers": [],  # accelerate's wrapper > DeepSpeed's ZeRO optimizer > the one that updates (torch or CPU Adam)
    }
    optimizer = trainer.optimizer
    while optimizer is not None and len(record["optimizers"]) < 5:
        record["optimizers"].append(type(optimizer).__name__)
        optimizer = getattr(optimizer, "optimizer", None)
    if trainer.ref_model is not None:
        record["reference"] = {"type": type(trainer.ref_model).__name__, **partitioning(trainer.ref_model)}
    return record


class RecordingTrainer(LaTROTrainer):
    records: list
    uneven: bool = False

    def _generate_single_turn(self, prompt_ids, *args, **kwargs):
        if not self.uneven:
            return super()._generate_single_turn(prompt_ids, *args, **kwargs)
        # Rationale lengths that differ between the processes by construction: process 0 writes rows of very
        # different lengths (several length groups pay off), process 1 rows of one length (one group does).
        lengths = [1, 2, 11, 12] if self.accelerator.process_index == 0 else [12, 12, 12, 12]
        token = self._tokenizer(" more", add_special_tokens=False)["input_ids"][0]
        return [[token] * lengths[i % len(lengths)] for i in range(len(prompt_ids))]

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        record = {"answers": [x["answer"] for x in inputs]}
        self.records.append(record)
        if "advantages" in batch:
            record["advantages"] = batch["advantages"].tolist()
        if self.is_deepspeed_enabled:  # sharded weights: no independent forward here; compared with DDP instead
            return batch
        model = self.accelerator.unwrap_model(self.model)
        rationale, answer = sequence_logps(model, batch)
        ref_rationale, _ = sequence_logps(self.initial_model, batch)
        record["rewards"] = (answer - BETA * (rationale - ref_rationale)).tolist()
        return batch


def main(
    out_dir: str,
    model_dir: str,
    deepspeed: str | None = None,
    as_path: str | None = None,
    fused: str | None = None,
    uneven: str | None = None,
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = [{"prompt": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(16)]
    args = LaTROConfig(
        output_dir=out_dir,
        num_generations=4,
        # One group of 4 spans both processes; with uneven lengths, each process holds a group.
        per_device_train_batch_size=4 if uneven else 2,
        max_completion_length=12 if uneven else 10,
        length_groups=4 if uneven else None,  # explicit: ZeRO-3 would otherwise default to one pass
        max_steps=2,
        beta=BETA,
        unfinished_penalty_factor=None,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        deepspeed=deepspeed,
        score_with_training_pass=bool(fused),  # on: rewards are computed in the loss, after TRL shuffled the rows
        seed=0,
    )
    trainer = RecordingTrainer(
        model=model_dir if as_path else AutoModelForCausalLM.from_pretrained(model_dir),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        # A model object under ZeRO-3 is sharded from birth and cannot be copied: hand over the reference too.
        ref_model=AutoModelForCausalLM.from_pretrained(model_dir) if deepspeed and not as_path else None,
    )
    trainer.initial_model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer.records, trainer.uneven = [], bool(uneven)
    trainer.train()
    rank = trainer.accelerator.process_index
    result = {"rank": rank, "records": trainer.records, "log_history": trainer.state.log_history}
    if trainer.is_deepspeed_enabled:
        result["deepspeed"] = deepspeed_record(trainer)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
    trainer.accelerator.wait_for_everyone()
    if dist.is_initialized():
        dist.destroy_process_group()
    # Everything is written. Leave without running C++ static destructors: under DeepSpeed on CPU one of them now and
    # then aborts the process at exit ("terminate called without an active exception", SIGABRT) after a clean run.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(*(arg or None for arg in sys.argv[1:]))
