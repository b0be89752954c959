#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir
# Stage 2 of the EmoDB demo: ASR sets small enough for a CPU, from one of three sources.
#   --asr_corpus so762_librispeech (default): speechocean762 (real read English by 250
#       learners, OpenSLR 101, CC BY 4.0) plus the LibriSpeech subsets in --librispeech_subsets
#       (default Mini LibriSpeech train-clean-5, OpenSLR 31, CC BY 4.0) minus four held-out
#       speakers (local/so762_librispeech.py). Two test sets, one per corpus:
#       --test_sets "<speechocean762's> <LibriSpeech's>".
#   --asr_corpus speechocean762: train/ trains; the speaker-disjoint test/ speakers are dealt
#       into valid (every --valid_every-th speaker) and test, so WER is on unseen speakers.
#   --asr_corpus digits_an4: FSDD spoken digits + ESPnet's mini AN4 (the first demo's data).
#       Train: FSDD recordings 5-49 + AN4 train; valid: FSDD 0-1; test: FSDD 2-4 + AN4 test.
set -euo pipefail
out=data
train_set=asr_train
valid_set=asr_valid
test_sets="asr_test asr_test_librispeech"
asr_corpus=so762_librispeech
librispeech_subsets=train-clean-5
valid_every=5
. ./path.sh
. ./db.sh
. utils/parse_options.sh

read -r -a names <<<"${test_sets}"
case "${asr_corpus}" in
    so762_librispeech) want=2 ;;
    speechocean762 | digits_an4) want=1 ;;
    *)
        echo "$0: --asr_corpus '${asr_corpus}': expected so762_librispeech, speechocean762 or digits_an4" >&2
        exit 1
        ;;
esac
if [ "${#names[@]}" -ne "${want}" ]; then
    echo "$0: --test_sets '${test_sets}': --asr_corpus ${asr_corpus} has exactly ${want} ASR test set(s)" >&2
    exit 1
fi
sets=(--out "${out}" --train_set "${train_set}" --valid_set "${valid_set}")
if [[ "${asr_corpus}" = so762_librispeech || "${asr_corpus}" = speechocean762 ]] && [ ! -d "${SPEECHOCEAN762}" ]; then
    local/download.sh "${SPEECHOCEAN762_URL}" downloads/speechocean762 speechocean762
    SPEECHOCEAN762=downloads/speechocean762/speechocean762
fi
case "${asr_corpus}" in
    so762_librispeech)
        if [ ! -d "${LIBRISPEECH}" ]; then
            local/download.sh "${LIBRISPEECH_URL}" downloads/librispeech LibriSpeech
            LIBRISPEECH=downloads/librispeech/LibriSpeech
        fi
        python -m local.so762_librispeech --so762 "${SPEECHOCEAN762}" --librispeech "${LIBRISPEECH}" \
            --subsets "${librispeech_subsets//,/ }" --test_sets "${test_sets}" "${sets[@]}"
        ;;
    speechocean762)
        sets+=(--test_set "${names[0]}")
        python -m pyscripts.speechocean762 --root "${SPEECHOCEAN762}" \
            --valid_every "${valid_every}" "${sets[@]}"
        ;;
    digits_an4)
        sets+=(--test_set "${names[0]}")
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
esac
