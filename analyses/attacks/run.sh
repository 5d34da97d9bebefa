#!/usr/bin/env bash
# The SPO Hopper attack table at eps 0.075 (README, "Attacks"): the learned optimal adversary (500k steps,
# cached beside the checkpoint; robust Sarsa's Q is trained on demand the same way), then every attack
# over 50 deterministic episodes.
set -euo pipefail
cd "$(dirname "$0")/../.."
adv=checkpoints/hopper_spo.optimal-eps0.075.pt
[ -f "$adv" ] || python -m landscape.train --algo adversary --victim checkpoints/hopper_spo.pt --steps 500000 --out "$adv"
python -m landscape.evaluate --ckpt checkpoints/hopper_spo.pt --attack all --eps 0.075 --episodes 50 --json \
    > analyses/attacks/hopper_spo_eps0.075.json
python -m landscape.evaluate --ckpt checkpoints/hopper_spo.pt --attack all --eps 0.075 --episodes 50
