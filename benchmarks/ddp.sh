#!/usr/bin/env bash
# One process against `torchrun --nproc_per_node 2` (DistributedDataParallel, gloo on the CPU) on the same job:
# the same model, data, seed and global batch (one process: BATCH; DDP: BATCH/2 per process). Both use every
# core: the one process runs THREADS torch threads, each DDP process THREADS/2. Prints, side by side, the mean
# training and validation seconds per epoch, the wall time of the whole command (start-up included) and the
# test accuracy of the artifact, and the ratio one process / DDP.
#
#   bash benchmarks/ddp.sh                       # cnn on mnist5k, 3 epochs, global batch 64
#   EPOCHS=5 WIDTH=1 THREADS=2 bash benchmarks/ddp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EPOCHS=${EPOCHS:-3}
WIDTH=${WIDTH:-0.5}
BATCH=${BATCH:-64}
THREADS=${THREADS:-2}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" NNLAB_NUM_WORKERS=0
JOB=(train --model cnn --dataset mnist5k --width "$WIDTH" --epochs "$EPOCHS" --optimizer adam --lr 2e-3
     --seed 0 --device cpu -q)

echo "load before: $(uptime)"
t0=$EPOCHREALTIME
OMP_NUM_THREADS=$THREADS "$PY" -m nnlab "${JOB[@]}" --batch-size "$BATCH" -o "$OUT/one.safetensors"
t1=$EPOCHREALTIME
OMP_NUM_THREADS=$((THREADS / 2 > 0 ? THREADS / 2 : 1)) "$PY" -m torch.distributed.run --standalone \
  --nproc_per_node 2 -m nnlab "${JOB[@]}" --batch-size $((BATCH / 2)) -o "$OUT/ddp.safetensors"
t2=$EPOCHREALTIME
echo "load after:  $(uptime)"
for run in one ddp; do
  OMP_NUM_THREADS=$THREADS "$PY" -m nnlab evaluate "$OUT/$run.safetensors" --device cpu -q -o "$OUT/$run.test.parquet"
done

"$PY" - "$OUT" "$t0" "$t1" "$t2" "$EPOCHS" "$BATCH" <<'EOF'
import sys
import pandas as pd

out, (t0, t1, t2), epochs, batch = sys.argv[1], map(float, sys.argv[2:5]), sys.argv[5], int(sys.argv[6])
one_wall, ddp_wall = t1 - t0, t2 - t1
rows = {}
for run, wall in (("one", one_wall), ("ddp", ddp_wall)):
    history = pd.read_parquet(f"{out}/{run}.history.parquet")
    test = pd.read_parquet(f"{out}/{run}.test.parquet").query("scope == 'overall'")
    rows[run] = {
        "train s/epoch": history["train_seconds"].mean(),
        "val s/epoch": history["val_seconds"].mean(),
        "wall s (whole command)": wall,
        "test accuracy": float(test["accuracy"].iloc[0]),
    }
print(f"\ncnn on mnist5k, {epochs} epochs, global batch {batch}: one process vs torchrun --nproc_per_node 2 (gloo)")
print(f"{'':24s} {'1 process':>10s} {'2 (DDP)':>10s} {'1p/DDP':>9s}  (accuracy: DDP - 1p, points)")
for key in rows["one"]:
    a, b = rows["one"][key], rows["ddp"][key]
    ratio = f"{a / b:9.2f}" if key != "test accuracy" else f"{(b - a) * 100:+8.2f}p"
    print(f"{key:24s} {a:10.4f} {b:10.4f} {ratio}")
EOF
