#!/usr/bin/env bash
# Stage 2 of the IEMOCAP recipe: ASR sets from the LibriSpeech tree at $LIBRISPEECH (db.sh).
# Subset lists are comma-separated; train and valid subsets are merged into one set each,
# test subsets map one-to-one, in order, onto the --test_sets names.
set -euo pipefail
out=data
train_set=asr_train
valid_set=asr_valid
test_sets="asr_test"
train_subsets=train-clean-100
valid_subsets=dev-clean
test_subsets=test-clean
. ./path.sh
. ./db.sh
. utils/parse_options.sh

read -r -a names <<<"${test_sets}"
IFS=, read -r -a subsets <<<"${test_subsets}"
if [ "${#names[@]}" -ne "${#subsets[@]}" ]; then
    echo "$0: --test_sets '${test_sets}' (${#names[@]}) and --test_subsets '${test_subsets}' (${#subsets[@]}) must pair up" >&2
    exit 1
fi
sets=(--set "${train_set}" "${train_subsets//,/ }" --set "${valid_set}" "${valid_subsets//,/ }")
for i in "${!names[@]}"; do sets+=(--set "${names[$i]}" "${subsets[$i]}"); done
python -m espnet_qieemo.prep.librispeech --root "${LIBRISPEECH}" --out "${out}" "${sets[@]}"
