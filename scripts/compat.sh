#!/usr/bin/env bash
# The compatibility run: for each supported TRL release, a clean virtual environment that holds that TRL first (as a
# user's project would), then latro-trl installed into it without a TRL pin (which must leave TRL as it is); then
# the TRL contract tests, the drop-in tests (TRL's own rloo.py / grpo.py with LaTROTrainer swapped in, full and
# LoRA), the estimator's exactness tests and the trainer's gradient against the plain-PyTorch reference
# (examples/latro_minimal.py). Prints a table of versions x checks (pass/fail, seconds); the last
# measured table is in docs/compat.md.
#
# A first column runs one step of TRL's own RLOOTrainer: where TRL alone cannot train on this machine, the checks
# that train LaTRO are shown as n/a rather than as LaTRO failures.
#
#   scripts/compat.sh                     every tested release (latro_trl/trl_compat.py: TESTED_TRL), plus a row
#                                         with the oldest one and the lower bounds pyproject.toml gives transformers,
#                                         accelerate and peft
#   scripts/compat.sh 1.15.0 1.16.0       these releases only ("oldest", "newest" and "oldest:lowest", the
#                                         lower-bounds row, also work)
#   COMPAT_CHECKS=contract scripts/compat.sh oldest      the contract tests only (what .ci/run runs)
#
# COMPAT_DIR: where the environments go (default ${XDG_CACHE_HOME:-~/.cache}/latro-trl-compat; each is rebuilt from
# scratch). PYTHON: the interpreter for the environments (python3). LATRO_TORCH_VERSION: the torch pin (2.13.0, the
# CPU build this kind of machine has on disk).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
TORCH=${LATRO_TORCH_VERSION:-2.13.0}
COMPAT_DIR=${COMPAT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latro-trl-compat}
CHECKS=${COMPAT_CHECKS:-trl_alone contract dropin exactness reference}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false PIP_DISABLE_PIP_VERSION_CHECK=1

declare -A TESTS=(
  [contract]="tests/unit/test_trl_contract.py"
  [dropin]="tests/integration/test_trl_scripts.py tests/integration/test_trl_scripts_lora.py"
  [exactness]="tests/unit/test_estimator_exactness.py"
  [reference]="tests/integration/test_minimal_reference.py"
)
declare -A TITLE=(
  [trl_alone]="TRL's RLOO alone" [contract]="contract" [dropin]="drop-in (full + LoRA)" [exactness]="exactness"
  [reference]="trainer = reference"
)
TRAINING_CHECKS=" dropin reference "  # n/a where TRL's own RLOOTrainer cannot train on this machine

# The baseline: one step of TRL's own RLOOTrainer on the tiny model, so that a TRL that cannot train here (TRL 1.15.0
# without Triton, i.e. on a CPU-only torch) is told apart from a LaTRO failure.
TRL_ALONE='
import tempfile
from datasets import Dataset
from trl import RLOOConfig, RLOOTrainer
from latro_trl.testing import make_tiny_model, make_tiny_tokenizer
tokenizer = make_tiny_tokenizer()
rows = [{"prompt": [{"role": "user", "content": f"What is {i} plus {i}?"}]} for i in range(8)]
args = RLOOConfig(
    output_dir=tempfile.mkdtemp(), num_generations=4, per_device_train_batch_size=8, max_completion_length=8,
    max_steps=1, beta=0.0, bf16=False, report_to="none", save_strategy="no", gradient_checkpointing=False,
)
RLOOTrainer(
    model=make_tiny_model(tokenizer), reward_funcs=lambda completions, **kwargs: [float(len(c)) for c in completions],
    args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
).train()
'

# The tested releases and pyproject's lower bounds, read where they are kept (no TRL needed to read them).
read -r -a TESTED <<<"$("$PY" - "$ROOT" <<'EOF'
import ast, pathlib, sys
tree = ast.parse((pathlib.Path(sys.argv[1]) / "src/latro_trl/trl_compat.py").read_text())
for node in tree.body:
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TESTED_TRL":
        print(" ".join(ast.literal_eval(node.value)))
EOF
)"
LOWER_BOUNDS=$("$PY" - "$ROOT" <<'EOF'
import pathlib, re, sys
text = (pathlib.Path(sys.argv[1]) / "pyproject.toml").read_text()
bounds = [name + "==" + re.search('"' + name + '>=([^,"]+)', text).group(1) for name in ("transformers", "accelerate", "peft")]
print(" ".join(bounds))
EOF
)
if [ $# -gt 0 ]; then ROWS=("$@"); else ROWS=("${TESTED[@]}" "oldest:lowest"); fi
ROWS=("${ROWS[@]//oldest/${TESTED[0]}}")
ROWS=("${ROWS[@]//newest/${TESTED[-1]}}")

mkdir -p "$COMPAT_DIR"
TABLE="$COMPAT_DIR/compat-table.md"
header="| TRL | transformers | accelerate | peft | env build | TRL kept |"
rule="|---|---|---|---|---|---|"
for check in $CHECKS; do header+=" ${TITLE[$check]} |"; rule+="---|"; done
rows=()
notes=()
failed=0

seconds_since() { echo $(($(date +%s) - $1)); }

for row in "${ROWS[@]}"; do
  version=${row%%:*}
  pins=""
  [ "$row" != "$version" ] && pins=$LOWER_BOUNDS
  env="$COMPAT_DIR/trl-${row//:/-}"
  log="$env.logs"
  rm -rf "$env" "$log" && mkdir -p "$log"
  echo "== trl $version ${pins:+(with $pins)} -> $env"

  start=$(date +%s)
  built=pass kept=yes
  {
    "$PY" -m venv "$env" &&
      "$env/bin/python" -m pip install -q "torch==$TORCH" "trl==$version" $pins &&
      "$env/bin/python" -m pip install -q -e "$ROOT[test]"
  } >"$log/build.log" 2>&1 || built=FAIL
  build_time=$(seconds_since "$start")
  versions=$("$env/bin/python" -c 'import trl, transformers, accelerate, peft
print(trl.__version__, transformers.__version__, accelerate.__version__, peft.__version__)' 2>>"$log/build.log")
  read -r got_trl got_transformers got_accelerate got_peft <<<"${versions:-? ? ? ?}"
  [ "$got_trl" = "$version" ] || kept="no: $got_trl"
  declare -A got=([transformers]=$got_transformers [accelerate]=$got_accelerate [peft]=$got_peft)
  for pin in $pins; do  # the lower-bounds row: latro-trl's install must not have moved these either
    [ "${got[${pin%%==*}]}" = "${pin#*==}" ] || kept="no: ${pin%%==*} moved"
  done

  label=$version
  [ -n "$pins" ] && label="$version (lower bounds)"
  line="| $label | $got_transformers | $got_accelerate | $got_peft | $built ${build_time}s | $kept |"
  [ "$built" = pass ] && [ "$kept" = yes ] || failed=1
  trl_trains=yes
  for check in $CHECKS; do
    if [ "$built" != pass ]; then line+=" - |"; continue; fi
    if [ "$trl_trains" != yes ] && [[ "$TRAINING_CHECKS" == *" $check "* ]]; then
      line+=" n/a |"
      echo "   $check: n/a (TRL's own RLOOTrainer cannot train here)"
      continue
    fi
    start=$(date +%s)
    if [ "$check" = trl_alone ]; then
      command=("$env/bin/python" -c "$TRL_ALONE")
    else
      # shellcheck disable=SC2206  # the test list is word-split on purpose
      command=("$env/bin/python" -m pytest -q -p no:cacheprovider ${TESTS[$check]})
    fi
    if (cd "$ROOT" && "${command[@]}") >"$log/$check.log" 2>&1; then
      result=pass
    elif [ "$check" = trl_alone ]; then
      result=FAIL trl_trains=no
      error=$(grep -E "^[A-Za-z_.]*(Error|Exception)" "$log/$check.log" | tail -n 1)
      notes+=("trl $label: TRL's own RLOOTrainer fails here (${error:-see $log/$check.log}), so the checks that train are n/a.")
    else
      result=FAIL failed=1
    fi
    line+=" $result $(seconds_since "$start")s |"
    echo "   $check: $result ($log/$check.log)"
  done
  rows+=("$line")
done

{
  echo "$header"
  echo "$rule"
  printf '%s\n' "${rows[@]}"
  for note in "${notes[@]}"; do echo; echo "$note"; done
} | tee "$TABLE"
echo "(torch $TORCH, Python $("$PY" -c 'import platform; print(platform.python_version())'); logs beside each environment in $COMPAT_DIR)"
exit "$failed"
