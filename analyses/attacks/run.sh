#!/bin/bash
# waits for the lead's SPO Hopper checkpoint, then: optimal adversary (500k), full table at eps 0.075
set -e
SRC=/work/main/checkpoints/hopper_spo.pt
D=/work/runs/attacks_final
while [ ! -f $SRC ]; do sleep 20; done
sleep 15
cp $SRC $D/hopper_spo.pt
sha256sum $SRC $D/hopper_spo.pt
cd /work/main
echo "start $(date -u)"
nice -n 5 python -m landscape.train --algo adversary --victim $D/hopper_spo.pt --steps 500000 --out $D/hopper_spo.optimal-eps0.075.pt
echo "adversary done $(date -u)"
nice -n 5 python -m landscape.evaluate --ckpt $D/hopper_spo.pt --attack all --eps 0.075 --episodes 50 --json > $D/table.json
echo "eval done $(date -u)"
