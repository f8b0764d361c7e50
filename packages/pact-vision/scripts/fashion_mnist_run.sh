#!/usr/bin/env bash
# The issue-4 real-image run on Fashion-MNIST: pretrain a dense ResNet, fine-tune PSACT
# (relaxed) and SACT from it at each tau, evaluate every checkpoint with every halting, and
# draw ponder maps. Everything lands in $OUT; commands are echoed to
# $OUT/commands.txt. Override the defaults through the environment, e.g.
#   ARCH=resnet20 DENSE_STEPS=200 FINETUNE_STEPS=50 EXTRA="--train-limit 2048" OUT=/tmp/smoke \
#       packages/pact-vision/scripts/fashion_mnist_run.sh
# The defaults are the run in docs/results/fashion_mnist.md: ResNet-32, 3,500 dense steps,
# 1,200 steps per fine-tune, PSACT and SACT at tau 0.01 and 0.05. On the 2-core
# development machine, with one thread each beside another job, dense training took
# 30 min, each fine-tune 10-13 min, evaluation and ponder maps 9 min: 1 h 26 min.
# Empty lists are allowed (PSACT_TAUS= skips PSACT).
set -euo pipefail

PYTHON=${PYTHON:-python}
ARCH=${ARCH:-resnet32}
OUT=${OUT:-runs/fashion_mnist}
DENSE_STEPS=${DENSE_STEPS:-3500}
FINETUNE_STEPS=${FINETUNE_STEPS:-1200}
PSACT_TAUS=${PSACT_TAUS-"0.01 0.05"}
SACT_TAUS=${SACT_TAUS-"0.01 0.05"}
THREADS=${THREADS:-2}
EXTRA=${EXTRA-}

mkdir -p "$OUT"
run() {
    echo "$*" >> "$OUT/commands.txt"
    "$@"
}

COMMON=(--arch "$ARCH" --data fashion-mnist --threads "$THREADS" --log-every 100
        --checkpoint-every 500 --no-progress --resume)
# shellcheck disable=SC2206
COMMON+=($EXTRA)

run "$PYTHON" -m pact_vision.train "${COMMON[@]}" --method fixed --steps "$DENSE_STEPS" \
    --out "$OUT/dense"
DENSE="$OUT/dense/checkpoint.pt"
for tau in $PSACT_TAUS; do
    run "$PYTHON" -m pact_vision.train "${COMMON[@]}" --method pact --tau "$tau" \
        --steps "$FINETUNE_STEPS" --init "$DENSE" --out "$OUT/psact_tau$tau"
done
for tau in $SACT_TAUS; do
    run "$PYTHON" -m pact_vision.train "${COMMON[@]}" --method act --tau "$tau" \
        --steps "$FINETUNE_STEPS" --init "$DENSE" --out "$OUT/sact_tau$tau"
done
for dir in "$OUT"/dense "$OUT"/psact_tau* "$OUT"/sact_tau*; do
    run "$PYTHON" -m pact_vision.evaluate --checkpoint "$dir/checkpoint.pt" \
        --json "$dir/eval.json" | tee "$dir/eval.txt"
done
for dir in "$OUT"/psact_tau* "$OUT"/sact_tau*; do
    mode=thresholded
    [[ $dir == *sact_tau* && $dir != *psact* ]] && mode=act
    run "$PYTHON" -m pact_vision.ponder_maps --checkpoint "$dir/checkpoint.pt" --halting "$mode" \
        --count 8 --out "$dir/maps"
done
{ uname -a; nproc; "$PYTHON" -c "import torch; print('torch', torch.__version__)"; } \
    > "$OUT/machine.txt"
