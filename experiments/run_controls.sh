#!/usr/bin/env bash
# Issue #27's runs, in the order experiments/PLAN.md fixes. Every stage is skipped when its result exists, so a
# stopped run (session end, kill) resumes where it stopped: run this script again with the same arguments.
#   usage: experiments/run_controls.sh OUT_DIR [PYTHON]
set -euo pipefail
out=${1:?usage: run_controls.sh OUT_DIR [PYTHON]}
python=${2:-python}
cd "$(dirname "$0")/.."
run() { "$python" experiments/controls.py --out "$out" "$@"; }

echo "[$(date '+%F %T')] block 1: primary arms, seeds 0-4 (phase 0 of sft_more at seed 0)"
run --seeds 0 1 2 3 4 --arms latro answer_only sft_more
echo "[$(date '+%F %T')] block 2: secondary arms, seeds 0-2 (phase 0 of rft at seed 0)"
run --seeds 0 1 2 --arms latro_lambda0 rft
echo "[$(date '+%F %T')] block 3: primary arms, seeds 5-9"
run --seeds 5 6 7 8 9 --arms latro answer_only sft_more
echo "[$(date '+%F %T')] all blocks done"
