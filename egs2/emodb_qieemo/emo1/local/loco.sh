#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir
# Leave-one-corpus-out (run.sh stage 6): for each corpus of --corpora, the multi-corpus model is
# trained on the others and tested on it (emo.sh stages 1-3 and 8-11 on data_loco/fold<k>), once
# per recipe in --candidates; eGeMAPS + linear SVM on the same folds; a temperature fitted on
# each fold's validation part and the ECE on its held-out corpus before and after; one table
# (--out) and the recipe with the best mean held-out UA (${expdir}/choice), which stage 7 trains
# on every corpus. The held-out corpora are thus the selection data of the shipped model: the
# table is its selection score, not an untouched test.
# Usage: local/loco.sh --asr_exp <backbone zip> [--expdir exp/loco] [--candidates "name|options;..."]
set -euo pipefail
expdir=exp/loco
asr_exp=""
corpora=emodb,ravdess,tess
emo_config=conf/train_emo_qieemo_multicorpus.yaml
candidates="aug|"  # "name|emo_train options;...": run.sh's --loco_candidates
seed=0
nj=2
parallel=2
emo_args=""     # extra emo_train options for every candidate
out=RESULTS_loco.md
readmes=""      # markdown files whose marked block gets the tables (local/loco_results.py --readme)
. ./path.sh
. ./db.sh
. utils/parse_options.sh
[ -n "${asr_exp}" ] || { echo "$0: --asr_exp (the backbone) is required" >&2; exit 1; }
log() { echo "$(date '+%H:%M:%S') $*"; }

IFS=',' read -r -a corpus_list <<<"${corpora}"
folds=$(seq -s ' ' 1 "${#corpus_list[@]}")
data=data_loco
dump=dump/loco
common=(--emo_corpus corpora --emo_data_dir "${data}" --dumpdir "${dump}" --expdir "${expdir}" --nj "${nj}"
        --folds "${folds}" --min_duration 0.2 --asr_exp "${asr_exp}" --emo_config "${emo_config}"
        --local_emo_data_opts "--corpora ${corpora}")
mkdir -p "${expdir}/logs"

[ -s data/augmentation/noise.scp ] || python -m local.make_augmentation --librispeech "${LIBRISPEECH}/train-clean-5" --out data/augmentation
./emo.sh "${common[@]}" --stage 1 --stop_stage 3
./emo.sh "${common[@]}" --stage 8 --stop_stage 8

IFS=';' read -r -a cands <<<"${candidates}"
pids=()
finished() {  # <candidate>: trained, tested and scored on every fold (kept; delete its dir to redo it)
    local k
    for k in ${folds}; do [ -f "${expdir}/emo_$1/fold${k}/.done" ] || return 1; done
    [ -f "${expdir}/emo_$1/RESULTS.md" ]
}
for c in "${cands[@]}"; do
    name="${c%%|*}"
    if finished "${name}"; then log "kept: candidate ${name} (${expdir}/emo_${name})"; continue; fi
    log "candidate ${name}: folds ${folds} -> ${expdir}/emo_${name}"
    ./emo.sh "${common[@]}" --emo_tag "${name}" --emo_args "--seed ${seed} ${c#*|} ${emo_args}" \
        --stage 9 --stop_stage 11 >"${expdir}/logs/${name}.log" 2>&1 &
    pids+=("$!")
    while [ "$(jobs -rp | wc -l)" -ge "${parallel}" ]; do wait -n || true; done
done
for pid in "${pids[@]}"; do wait "${pid}" || { echo "$0: a candidate failed; see ${expdir}/logs/" >&2; exit 1; }; done

svm_opts=()
for k in ${folds}; do svm_opts+=(--fold "${dump}/fold${k}" "${expdir}/egemaps_svm/fold${k}/test"); done
python -m local.egemaps_svm --labels "${data}/corpora/labels" --seed 0 "${svm_opts[@]}"

result_opts=()
for f in ${readmes}; do result_opts+=(--readme "${f}"); done
for c in "${cands[@]}"; do
    name="${c%%|*}"
    for k in ${folds}; do
        exp_k="${expdir}/emo_${name}/fold${k}"
        [ -s "${exp_k}/calibration.yaml" ] || python -m espnet_qieemo.bin.emo_calibrate \
            --train_config "${exp_k}/config.yaml" --model_file "${exp_k}/valid.ua.ave.pth" \
            --data_dir "${dump}/fold${k}/valid" --eval_dir "${dump}/fold${k}/test" \
            --output_file "${exp_k}/calibration.yaml" >"${exp_k}/calibration.md"
    done
    result_opts+=(--system "${name}" "${expdir}/emo_${name}/fold{fold}")
done
python -m local.loco_results --heldout "${data}/corpora/heldout" --fold_dir "${dump}/fold{fold}" \
    "${result_opts[@]}" --svm "${expdir}/egemaps_svm/fold{fold}/test" --choice "${expdir}/choice" --out "${out}"
log "leave-one-corpus-out: ${out}; chosen recipe: $(cat "${expdir}/choice")"
