#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir
# Stage 1 of the EmoDB demo: data/emodb (+ labels) and data/fold1..5, fold k testing one male
# and one female speaker (03+08, 10+09, 11+13, 12+14, 15+16); validation from the other eight.
# Four classes (neu hap ang sad) by default; --all_classes true keeps all seven.
set -euo pipefail
out=data
seed=0
valid_ratio=0.15   # share of the training speakers' utterances used for validation
all_classes=false
. ./path.sh
. ./db.sh
. utils/parse_options.sh

if [ ! -d "${EMODB}" ]; then
    local/download.sh "${EMODB_URL}" downloads/emodb wav
    EMODB=downloads/emodb/wav
fi
opts=()
[ "${all_classes}" = true ] && opts+=(--all_classes)
python -m local.emodb --emodb "${EMODB}" --out "${out}" --valid_ratio "${valid_ratio}" \
    --seed "${seed}" "${opts[@]}"
