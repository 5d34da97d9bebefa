#!/usr/bin/env bash
# The Hopper attack tables at eps 0.075 (README, "Attacks" and "Measured results"): for each checkpoint, its
# learned attackers as sets of runs (python -m landscape.attacks.learned: trains only what is missing, selects
# by held-out evaluation; robust Sarsa's Q is trained on demand), then every attack over 50 deterministic
# episodes, then one markdown table of them all.
#   bash analyses/attacks/run.sh [CKPT ...]      (default: the bundled SPO, ARPO and BARPO checkpoints)
# Sets (override with OPTIMAL_SET / PAAD_SET): the flags of landscape.attacks.learned.
set -euo pipefail
cd "$(dirname "$0")/../.."
ckpts=("$@")
[ ${#ckpts[@]} -gt 0 ] || ckpts=(landscape/checkpoints/hopper_spo.pt landscape/checkpoints/hopper_arpo.pt \
                                 landscape/checkpoints/hopper_barpo.pt)
OPTIMAL_SET=${OPTIMAL_SET:---lr 1e-3 --gamma 0.99,0.999 --steps 500000 --seeds 0}
PAAD_SET=${PAAD_SET:---lr 1e-3,3e-4 --steps 50000 --seeds 0,1}
for ckpt in "${ckpts[@]}"; do
    # shellcheck disable=SC2086
    python -m landscape.attacks.learned --ckpt "$ckpt" --attack optimal $OPTIMAL_SET
    # shellcheck disable=SC2086
    python -m landscape.attacks.learned --ckpt "$ckpt" --attack paad $PAAD_SET
    python -m landscape.evaluate --ckpt "$ckpt" --attack all --eps 0.075 --episodes 50 --json \
        > "analyses/attacks/$(basename "${ckpt%.pt}")_eps0.075.json"
done
python analyses/attacks/table.py analyses/attacks/hopper_{spo,arpo,barpo}_eps0.075.json | tee analyses/attacks/table.md
