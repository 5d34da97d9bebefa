#!/usr/bin/env bash
# The Hopper attack tables at eps 0.075 (README, "Attacks" and "Measured results"): for each checkpoint, its
# learned optimal adversary (500k steps, cached beside it; robust Sarsa's Q is trained on demand the same
# way), then every attack over 50 deterministic episodes, then one markdown table of them all.
#   bash analyses/attacks/run.sh [CKPT ...]      (default: the bundled SPO, ARPO and BARPO checkpoints)
set -euo pipefail
cd "$(dirname "$0")/../.."
ckpts=("$@")
[ ${#ckpts[@]} -gt 0 ] || ckpts=(landscape/checkpoints/hopper_spo.pt landscape/checkpoints/hopper_arpo.pt landscape/checkpoints/hopper_barpo.pt)
for ckpt in "${ckpts[@]}"; do
    adv="${ckpt%.pt}.optimal-eps0.075.pt"
    [ -f "$adv" ] || python -m landscape.train --algo adversary --victim "$ckpt" --steps 500000 --out "$adv"
    python -m landscape.evaluate --ckpt "$ckpt" --attack all --eps 0.075 --episodes 50 --json \
        > "analyses/attacks/$(basename "${ckpt%.pt}")_eps0.075.json"
done
python analyses/attacks/table.py analyses/attacks/hopper_{spo,arpo,barpo}_eps0.075.json | tee analyses/attacks/table.md
