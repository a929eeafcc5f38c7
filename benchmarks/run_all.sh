#!/usr/bin/env bash
# Every speed benchmark, one after another (never two at once: they share 2 cores),
# each writing its table to benchmarks/results/. Run on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=benchmarks/results
mkdir -p "$OUT"
$PY benchmarks/optim_step.py --json "$OUT/optim_step.json" | tee "$OUT/optim_step.txt"
$PY benchmarks/norm_speed.py | tee "$OUT/norm_speed.txt"
$PY benchmarks/lstm_speed.py --threads 2 | tee "$OUT/lstm_speed.txt"
$PY benchmarks/transformer_speed.py --threads 2 | tee "$OUT/transformer_speed.txt"
$PY benchmarks/decode_speed.py --json "$OUT/decode_speed.json" | tee "$OUT/decode_speed.txt"
