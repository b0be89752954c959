#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir
# Stage 1 of the EmoDB demo. With --corpora emodb (the default): data/emodb (+ labels) and
# data/fold1..5, fold k testing one male and one female speaker (03+08, 10+09, 11+13, 12+14,
# 15+16); validation from the other eight; four classes (neu hap ang sad), --all_classes true
# keeps all seven. With several corpora (--corpora "emodb ravdess tess"): <out>/corpora, the
# four classes of each (local/emo_corpora.py), and leave-one-corpus-out folds, fold k testing
# the k-th corpus named.
set -euo pipefail
out=data
seed=0
valid_ratio=0.15   # share of the training speakers' utterances used for validation (EmoDB folds)
all_classes=false
corpora=emodb
. ./path.sh
. ./db.sh
. utils/parse_options.sh

if [ "${corpora}" = emodb ]; then
    if [ ! -d "${EMODB}" ]; then
        local/download.sh "${EMODB_URL}" downloads/emodb wav
        EMODB=downloads/emodb/wav
    fi
    opts=()
    [ "${all_classes}" = true ] && opts+=(--all_classes)
    python -m local.emodb --emodb "${EMODB}" --out "${out}" --valid_ratio "${valid_ratio}" \
        --seed "${seed}" "${opts[@]}"
    exit 0
fi
[ "${all_classes}" = false ] || { echo "$0: --all_classes true is for EmoDB alone (the corpora share four classes)" >&2; exit 1; }
opts=()
for corpus in ${corpora//,/ }; do
    case "${corpus}" in
        emodb) root="${EMODB}" ;;
        ravdess) root="${RAVDESS}" ;;
        tess) root="${TESS}" ;;
        *) echo "$0: --corpora '${corpora}': unknown corpus '${corpus}' (expected emodb, ravdess, tess)" >&2; exit 1 ;;
    esac
    [ -d "${root}" ] || { echo "$0: ${corpus}: ${root} not found; set it in db.sh or the environment" >&2; exit 1; }
    opts+=("--${corpus}" "${root}")
done
python -m local.emo_corpora "${opts[@]}" --out "${out}" --seed "${seed}"
