#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir
# Usage (from the recipe dir, after stages 1-5 of `./run.sh --train_asr true`): local/ctc_pilots.sh
# The pilots of pretrained/README.md ("Second recipe"): both backbone configs, with characters and
# with the first recipe's 200 unigram units (token list made here by emo.sh stage 4 if missing),
# two at a time, one core each -> exp/ctc_pilots/<encoder>_<units>.json (curves of local/ctc_pilots.py).
set -euo pipefail
. ./path.sh
export OMP_NUM_THREADS=1
out=exp/ctc_pilots
stats=exp/asr_stats_char40/train/feats_stats.npz
[ -f "${stats}" ] || { echo "$0: ${stats} not found; run ./run.sh --train_asr true --stop_stage 1 first" >&2; exit 1; }
[ -f data/token_list/bpe_unigram200/bpe.model ] || ./emo.sh --stage 4 --stop_stage 4 --bpemode unigram --nbpe 200
mkdir -p "${out}"
pilot() {  # <name> <config> <token dir>
    python -m local.ctc_pilots --config "$2" --stats "${stats}" --token_dir "$3" \
        --train dump/raw/asr_train --valid dump/raw/asr_valid --out "${out}/$1.json" >"${out}/$1.log" 2>&1 \
        || { echo "$0: pilot $1 failed; see ${out}/$1.log" >&2; return 1; }
}
for encoder in efficient_conformer conformer; do
    name=${encoder/efficient_conformer/eff}
    pilot "${name}_char" "conf/train_asr_${encoder}_so762.yaml" data/token_list/bpe_char40 &
    chars=$!
    pilot "${name}_unigram200" "conf/train_asr_${encoder}_so762.yaml" data/token_list/bpe_unigram200 &
    units=$!
    wait "${chars}"
    wait "${units}"
done
echo "$0: curves in ${out}/*.json"
