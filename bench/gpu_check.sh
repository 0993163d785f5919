#!/usr/bin/env bash
# The GPU check of the step cost: plain SFT vs fused uniform vs fused COMPACT vs MIND, step time and fraction of the
# measured bf16 matmul peak, for a random-weight Qwen2.5-1.5B-shaped student (the paper's smallest), batch 4 questions
# x 4 paths (Table 8's per-device batch), rows up to 512 tokens. Appends its table to bench/RESULTS.md; the JSON goes
# to $OUT (the device tool's output folder) or the current folder.
#   bash bench/gpu_check.sh            # on a machine with a CUDA GPU and the package installed (pip install -e .)
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU: this check needs one')"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || true
python bench/flops.py --shape qwen2.5-1.5b --batch-size 4 --max-length 512 --batches 6 --repeats 3 --warmup 2 \
  --write bench/RESULTS.md --json "${OUT:-.}/gpu_check.json"
