#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir
# Stage 1 of the IEMOCAP recipe: data/iemocap (+ labels) and data/fold1..5 (test = Session k).
set -euo pipefail
out=data
seed=0
valid_ratio=0.1   # share of the training sessions' utterances used for validation
. ./path.sh
. ./db.sh
. utils/parse_options.sh

python -m local.iemocap --iemocap "${IEMOCAP}" --out "${out}" --valid_ratio "${valid_ratio}" --seed "${seed}"
