#!/usr/bin/env bash
# Stage 2 of the EmoDB demo: ASR sets from real English speech small enough for a CPU:
# FSDD spoken digits + ESPnet's mini AN4. Train: FSDD recordings 5-49 + AN4 train;
# valid: FSDD recordings 0-1; test: FSDD recordings 2-4 + AN4 test (one test set).
set -euo pipefail
out=data
train_set=asr_train
valid_set=asr_valid
test_sets=asr_test
. ./path.sh
. ./db.sh
. utils/parse_options.sh

read -r -a names <<<"${test_sets}"
if [ "${#names[@]}" -ne 1 ]; then
    echo "$0: --test_sets '${test_sets}': this corpus has exactly one ASR test set" >&2
    exit 1
fi
if [ ! -d "${FSDD}" ]; then
    local/download.sh "${FSDD_URL}" downloads/fsdd free-spoken-digit-dataset-1.0.10/recordings
    FSDD=downloads/fsdd/free-spoken-digit-dataset-1.0.10/recordings
fi
if [ ! -d "${AN4}" ]; then
    local/download.sh "${AN4_URL}" downloads/mini_an4 downloads/an4
    AN4=downloads/mini_an4/downloads/an4
fi
python -m espnet_qieemo.prep.digits_an4 --fsdd "${FSDD}" --an4 "${AN4}" --out "${out}" \
    --train_set "${train_set}" --valid_set "${valid_set}" --test_set "${names[0]}"
