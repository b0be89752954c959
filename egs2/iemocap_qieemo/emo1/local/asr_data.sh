#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir
# Stage 2 of the IEMOCAP recipe: ASR sets from one of two corpora.
#   --asr_corpus librispeech (default): the LibriSpeech tree at $LIBRISPEECH (db.sh), audio as
#       .flac (or .wav, .ogg, .opus). Subset lists are comma-separated; train and valid subsets
#       are merged into one set each, test subsets map one-to-one, in order, onto the --test_sets
#       names. A copy without dev / test subsets (Mini LibriSpeech: --train_subsets train-clean-5)
#       holds speakers out of train instead: --valid_speakers 1737,7312 --test_speakers 32,3664
#       (as many female as male each; one test set).
#   --asr_corpus speechocean762: the CPU-scale corpus at $SPEECHOCEAN762 (OpenSLR 101):
#       train/ trains, its unseen test/ speakers are dealt into valid and one test set.
set -euo pipefail
out=data
train_set=asr_train
valid_set=asr_valid
test_sets="asr_test"
asr_corpus=librispeech
train_subsets=train-clean-100
valid_subsets=dev-clean
test_subsets=test-clean
valid_speakers=""   # comma-separated LibriSpeech speakers held out of train as the valid set (instead of --valid_subsets)
test_speakers=""    # ... as the one test set (instead of --test_subsets)
valid_every=5
. ./path.sh
. ./db.sh
. utils/parse_options.sh

read -r -a names <<<"${test_sets}"
case "${asr_corpus}" in
    librispeech)
        sets=(--set "${train_set}" "${train_subsets//,/ }")
        if [ -n "${valid_speakers}" ]; then
            sets+=(--hold_out "${valid_set}" "${valid_speakers//,/ }")
        else
            sets+=(--set "${valid_set}" "${valid_subsets//,/ }")
        fi
        if [ -n "${test_speakers}" ]; then
            if [ "${#names[@]}" -ne 1 ]; then
                echo "$0: --test_speakers gives one test set; --test_sets '${test_sets}' names ${#names[@]}" >&2
                exit 1
            fi
            sets+=(--hold_out "${names[0]}" "${test_speakers//,/ }")
        else
            IFS=, read -r -a subsets <<<"${test_subsets}"
            if [ "${#names[@]}" -ne "${#subsets[@]}" ]; then
                echo "$0: --test_sets '${test_sets}' (${#names[@]}) and --test_subsets '${test_subsets}' (${#subsets[@]}) must pair up" >&2
                exit 1
            fi
            for i in "${!names[@]}"; do sets+=(--set "${names[$i]}" "${subsets[$i]}"); done
        fi
        python -m pyscripts.librispeech --root "${LIBRISPEECH}" --out "${out}" "${sets[@]}"
        ;;
    speechocean762)
        if [ "${#names[@]}" -ne 1 ]; then
            echo "$0: --test_sets '${test_sets}': speechocean762 gives exactly one ASR test set" >&2
            exit 1
        fi
        python -m pyscripts.speechocean762 --root "${SPEECHOCEAN762}" --out "${out}" \
            --train_set "${train_set}" --valid_set "${valid_set}" --test_set "${names[0]}" --valid_every "${valid_every}"
        ;;
    *)
        echo "$0: --asr_corpus '${asr_corpus}': expected librispeech or speechocean762" >&2
        exit 1
        ;;
esac
