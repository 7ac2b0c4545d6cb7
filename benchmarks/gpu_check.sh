#!/usr/bin/env bash
# The training-core benchmark (benchmarks/training_core.py) on one CUDA GPU, in bfloat16, in under 8 minutes.
#
# Default model: a 1.3B-parameter LLaMA-shaped model with random weights (transformers' own init, built
# directly on the GPU): hidden 2048, 24 layers, 16 heads (no GQA), intermediate 5504, vocab 32000, UNTIED
# embeddings and LM head -- 1,345,423,360 base weights -- plus LoRA r=8 on q,k,v,o. The minibatch is
# 16 x 64 synthetic token ids (no tokenizer or data set is needed; the cost does not depend on the words).
#
# Needs nothing from the network. It expects a Python (python3, or $PYTHON) in which torch with CUDA,
# transformers, peft, numpy and pandas are importable; it runs from the repository root with
# `python -m benchmarks.training_core`, so hybridsmooth need not be installed. It exits 2, with a message,
# when a package is missing or CUDA is unavailable.
#
# usage: benchmarks/gpu_check.sh [--model PATH] [--reps N] [other training_core.py options]
#   --model PATH   a causal-LM checkpoint folder on disk instead of the random 1.3B model (synthetic ids)
#   --tiny         a tiny random LLaMA (proves the code path; add --device cpu --dtype float32 on a CPU)
# Options after these are passed on and win over the defaults (e.g. --batch-size 8, --ops "zo regen").
# Goal on the GPU: the regenerating ZO step within 1.15 x two forward passes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

model_args=(--llama 1.3b)
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model)
      [[ $# -ge 2 && -d "$2" ]] || { echo "error: --model needs an existing checkpoint folder" >&2; exit 2; }
      model_args=(--model "$2" --tokens synthetic); shift 2 ;;
    --tiny) model_args=(--llama tiny); shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) extra+=("$1"); shift ;;
  esac
done

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if ! "$PY" -c "import torch, transformers, peft, numpy, pandas; import benchmarks.training_core" 2>/tmp/gpu_check_import.$$; then
  echo "error: $PY cannot import what the check needs (torch with CUDA, transformers, peft, numpy, pandas):" >&2
  tail -n 1 /tmp/gpu_check_import.$$ >&2
  rm -f /tmp/gpu_check_import.$$
  exit 2
fi
rm -f /tmp/gpu_check_import.$$
"$PY" -c "import torch, transformers, peft; print(f'# python ok: torch {torch.__version__} (cuda {torch.version.cuda}), transformers {transformers.__version__}, peft {peft.__version__}')"

# 450 s leaves room under 8 minutes for the imports above; training_core exits 2 itself without CUDA
exec timeout 450 "$PY" -m benchmarks.training_core "${model_args[@]}" --device cuda --dtype bfloat16 \
  --reps 10 --threads 4 "${extra[@]}"
