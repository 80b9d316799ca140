"""Finished generation batches on disk, so a stopped evaluation resumes where it stopped and gives the same replies.

Each line holds one batch's replies and the random state right after it. Resuming restores that state before the
next batch, so sampled replies are the same as in an uninterrupted run. The file's first line is a fingerprint of
everything the replies depend on (the model's weights, the prompts, the generation settings); a log made under other
ones is discarded, never mixed in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch


def model_fingerprint(model: Any, samples_per_tensor: int = 4096) -> str:
    """A digest of the model's weights: every tensor's name, shape, dtype and the exact values of an evenly spaced
    sample of its elements (all of them for small tensors, such as LoRA factors).

    Fine-tuning changes almost every element of the matrices it touches, so another checkpoint gives another digest;
    sampling keeps the cost (and the memory, on a GPU holding an 8B model) small.
    """
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            flat = parameter.detach().reshape(-1)
            step = max(1, flat.numel() // samples_per_tensor)
            digest.update(f"{name}:{tuple(parameter.shape)}:{parameter.dtype}".encode())
            digest.update(flat[::step].float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _rng_state(device: torch.device) -> dict[str, str]:
    states = {"cpu": torch.random.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return {key: base64.b64encode(state.numpy().tobytes()).decode("ascii") for key, state in states.items()}


def _set_rng_state(saved: dict[str, str], device: torch.device) -> None:
    def tensor(key: str) -> torch.Tensor:
        return torch.frombuffer(bytearray(base64.b64decode(saved[key])), dtype=torch.uint8)

    torch.random.set_rng_state(tensor("cpu"))
    if device.type == "cuda" and "cuda" in saved:
        torch.cuda.set_rng_state(tensor("cuda"), device)


class BatchLog:
    """Append-only log of finished batches for one ``generate_replies`` call.

    Args:
        path: the JSONL file.
        fingerprint: identifies the call (see :func:`model_fingerprint`); a log with another one is discarded.
    """

    def __init__(self, path: str | os.PathLike[str], fingerprint: str):
        self.path = Path(path)
        self.fingerprint = fingerprint

    def resume(self, device: torch.device) -> list[list[list[Any]]]:
        """The replies of the batches already done (in order), with the random state restored after the last one.

        Rewrites the file to its valid prefix, dropping a line cut short by a kill, or starts it anew.
        """
        kept: list[dict[str, Any]] = []  # the valid batches, in order
        if self.path.exists():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            header = _parse(lines[0]) if lines else None
            if header is not None and header.get("fingerprint") == self.fingerprint:
                for line in lines[1:]:
                    entry = _parse(line)
                    if entry is None or entry.get("batch") != len(kept):
                        break
                    kept.append(entry)
            elif lines:
                warnings.warn(f"{self.path} was made for another model, data or settings; starting over.", stacklevel=3)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.path, [{"fingerprint": self.fingerprint}, *kept])
        if kept:
            _set_rng_state(kept[-1]["rng"], device)
        return [entry["replies"] for entry in kept]

    def append(self, batch: int, replies: list[list[Any]], device: torch.device) -> None:
        """Record a finished batch and the random state after it (flushed to disk before returning)."""
        entry = {"batch": batch, "replies": replies, "rng": _rng_state(device)}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _write_atomically(path: Path, entries: list[dict[str, Any]]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    temporary.replace(path)
