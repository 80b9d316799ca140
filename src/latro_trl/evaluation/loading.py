"""Load a model and tokenizer for evaluation: the embedded SmolLM2, a hub/local checkpoint, or a PEFT adapter."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from latro_trl.models import EMBEDDED_MODEL_NAME


def embedded_model_source() -> tuple[str, str]:
    """``(directory, gguf_file)`` of the embedded SmolLM2-135M-Instruct GGUF (see :mod:`latro_trl.models`)."""
    from latro_trl.models import EMBEDDED_GGUF_FILE, embedded_model_dir

    return str(embedded_model_dir()), EMBEDDED_GGUF_FILE


def _gguf_in(path: str) -> str | None:
    """The single ``.gguf`` file of a local directory that has no ``config.json``, else ``None``."""
    directory = Path(path)
    if not directory.is_dir() or (directory / "config.json").is_file():
        return None
    files = sorted(p.name for p in directory.glob("*.gguf"))
    if len(files) > 1:
        raise ValueError(f"{path} holds several GGUF files {files}; pass gguf_file= to choose one.")
    return files[0] if files else None


def _has_tokenizer(path: str) -> bool:
    return any((Path(path) / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))


def load_model_for_eval(
    path_or_name: str | os.PathLike[str] | None = None,
    adapter: str | os.PathLike[str] | None = None,
    *,
    gguf_file: str | None = None,
    dtype: Any = None,
    device: str | None = None,
    merge_adapter: bool = True,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` in eval mode, ready for :func:`~latro_trl.evaluation.evaluate`.

    Args:
        path_or_name: a hub id or local directory of a full model; a local PEFT adapter directory (its
            ``adapter_config.json`` names the base); or ``None`` / ``"embedded"`` for the embedded SmolLM2-135M GGUF.
            A local directory without ``config.json`` but with one ``.gguf`` file is loaded from that file.
        adapter: a PEFT LoRA adapter to apply on top of ``path_or_name``.
        gguf_file: the GGUF file name inside ``path_or_name`` (found automatically when there is exactly one).
        dtype: passed to ``from_pretrained`` (e.g. ``torch.bfloat16``); ``None`` keeps the default (float32).
        device: move the model there (e.g. ``"cuda"``); ``None`` leaves it on the CPU.
        merge_adapter: merge the adapter into the weights (faster generation) instead of keeping a ``PeftModel``.

    Returns:
        ``(model, tokenizer)``; the tokenizer has a pad token (EOS if it had none).

    Example:
        >>> model, tokenizer = load_model_for_eval("runs/latro-gsm8k/checkpoint-500")  # doctest: +SKIP
        >>> model, tokenizer = load_model_for_eval(adapter="runs/latro-lora")  # embedded base + LoRA  # doctest: +SKIP
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = None if path_or_name is None else str(path_or_name)
    adapter = None if adapter is None else str(adapter)
    if base is not None and adapter is None and (Path(base) / "adapter_config.json").is_file():
        adapter = base
        base = json.loads((Path(adapter) / "adapter_config.json").read_text())["base_model_name_or_path"]
    if base in (None, "embedded", EMBEDDED_MODEL_NAME):
        base, gguf_file = embedded_model_source()
    gguf_file = gguf_file or _gguf_in(base)
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    model = AutoModelForCausalLM.from_pretrained(base, **extra, **({"dtype": dtype} if dtype is not None else {}))
    tokenizer_source = adapter if adapter is not None and _has_tokenizer(adapter) else base
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, **({} if tokenizer_source == adapter else extra))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        if merge_adapter:
            model = model.merge_and_unload()
    if device is not None:
        model = model.to(device)
    model.eval()
    return model, tokenizer
