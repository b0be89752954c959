#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir
# Stage 2 of the EmoDB demo: ASR sets small enough for a CPU, from one of two corpora.
#   --asr_corpus speechocean762 (default): real read English, 250 speakers (OpenSLR 101,
#       CC BY 4.0). train/ trains; the speaker-disjoint test/ speakers are dealt into
#       valid (every --valid_every-th speaker) and test, so WER is on unseen speakers.
#   --asr_corpus digits_an4: FSDD spoken digits + ESPnet's mini AN4 (the first demo's data).
#       Train: FSDD recordings 5-49 + AN4 train; valid: FSDD 0-1; test: FSDD 2-4 + AN4 test.
set -euo pipefail
out=data
train_set=asr_train
valid_set=asr_valid
test_sets=asr_test
asr_corpus=speechocean762
valid_every=5
. ./path.sh
. ./db.sh
. utils/parse_options.sh

read -r -a names <<<"${test_sets}"
if [ "${#names[@]}" -ne 1 ]; then
    echo "$0: --test_sets '${test_sets}': this corpus has exactly one ASR test set" >&2
    exit 1
fi
sets=(--out "${out}" --train_set "${train_set}" --valid_set "${valid_set}" --test_set "${names[0]}")
case "${asr_corpus}" in
    speechocean762)
        if [ ! -d "${SPEECHOCEAN762}" ]; then
            local/download.sh "${SPEECHOCEAN762_URL}" downloads/speechocean762 speechocean762
            SPEECHOCEAN762=downloads/speechocean762/speechocean762
        fi
        python -m pyscripts.speechocean762 --root "${SPEECHOCEAN762}" \
            --valid_every "${valid_every}" "${sets[@]}"
        ;;
    digits_an4)
        if [ ! -d "${FSDD}" ]; then
            local/download.sh "${FSDD_URL}" downloads/fsdd free-spoken-digit-dataset-1.0.10/recordings
            FSDD=downloads/fsdd/free-spoken-digit-dataset-1.0.10/recordings
        fi
        if [ ! -d "${AN4}" ]; then
            local/download.sh "${AN4_URL}" downloads/mini_an4 downloads/an4
            AN4=downloads/mini_an4/downloads/an4
        fi
        python -m local.digits_an4 --fsdd "${FSDD}" --an4 "${AN4}" "${sets[@]}"
        ;;
    *)
        echo "$0: --asr_corpus '${asr_corpus}': expected speechocean762 or digits_an4" >&2
        exit 1
        ;;
esac
