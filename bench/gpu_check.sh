#!/usr/bin/env bash
# Run bench/gpu_check.py on a GPU machine that has torch, transformers, accelerate and peft but no network.
#
#   here:   bash bench/gpu_check.sh download        wheels into .whl/ (git-ignored), total checked < 64 MiB
#   there:  bash bench/gpu_check.sh device [FLAGS]  install the wheels to /tmp/site, print versions, run the check
#
# (PYTHON=.venv/bin/python for a python3 without pip.) With this workplace's device tool, one call: gpu_check.py
# starts no job after --budget_s (360 s by default) and the last one finishes, so about 7-8 minutes on one H100:
#   run(command="bash bench/gpu_check.sh device", carry=[".whl"], timeout_s=540)
# The JSON, the Markdown table and the log land in $OUT (they come back) or, without $OUT, in bench/results/.
# FLAGS go to gpu_check.py, e.g. `--budget_s 300` or `--sections timing`.
#
# Why these wheels: trl and datasets (with dill, multiprocess) are not on the machine; latro-trl is tested on
# transformers 5.25, which needs huggingface_hub 2.4 (and its httpx2, httpcore2, truststore) where the image has
# 5.17 and 1.33; accelerate and peft at the versions the tests run against. latro-trl itself is put on PYTHONPATH (src/) rather than `pip install -e .`: an editable install
# needs setuptools >= 77 from the network for its isolated build.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(
    trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
    transformers==5.25.0 huggingface_hub==2.4.0 httpx2==2.17.0 httpcore2==2.17.0 truststore==0.10.5
    accelerate==1.16.0 peft==0.21.2
)
LIMIT=$((64 * 1024 * 1024))

case "${1:-}" in
download)
    "${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${WHEELS[@]}"
    total=$(du -cb .whl/*.whl | tail -1 | cut -f1)
    echo "wheels in .whl/: $total bytes (limit $LIMIT)"
    [ "$total" -lt "$LIMIT" ] || { echo "over 64 MiB: remove older wheels from .whl/" >&2; exit 1; }
    ;;
device)
    shift
    site="${SITE:-/tmp/site}"
    "${PYTHON:-python3}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
        .whl/*.whl
    export PYTHONPATH="$site:$PWD/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    "${PYTHON:-python3}" -c 'import importlib; print({m: importlib.import_module(m).__version__ for m in
        ("torch", "transformers", "trl", "datasets", "accelerate", "peft", "huggingface_hub", "latro_trl")})'
    out="${OUT:-bench/results}"
    "${PYTHON:-python3}" bench/gpu_check.py --output "$out/gpu_check.json" "$@" 2>&1 | tee "$out/gpu_check.log"
    ;;
*)
    echo "usage: bash bench/gpu_check.sh download | device [gpu_check.py flags]" >&2
    exit 2
    ;;
esac
