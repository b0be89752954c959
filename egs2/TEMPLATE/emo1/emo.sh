#!/usr/bin/env bash
# Qieemo emotion recipe stages, shared by every egs2/<corpus>_qieemo/emo1 recipe (symlinked).
# pip-installed ESPnet ships no egs2/TEMPLATE, utils/ or asr.sh, so this script carries its
# own helpers (utils/) and calls only Python entry points: ESPnet's and espnet_qieemo's for
# training, inference and packing; the recipe tools in pyscripts/ (shared by every recipe,
# linked from TEMPLATE like utils/) and local/ (the recipe's own corpus prep) as
# `python -m pyscripts.<tool>` / `python -m local.<tool>`, run from the recipe dir.
#
# Stages (run from the recipe dir: ./run.sh --stage N --stop_stage M):
#   1  Emotion corpus prep (local/emo_data.sh): <emo_data_dir>/<emo_corpus>/{wav.scp,emotion,utt2spk,text,labels}
#      and <emo_data_dir>/fold<k>/{train,valid,test} (test = one session / speaker pair, or one
#      corpus; valid from the training groups only), each fold checked before it is written.
#   2  ASR corpus prep (local/asr_data.sh): data/{asr_train,asr_valid,asr_test}.
#   3  Audio formatting: 16 kHz mono, utterance lengths, too-short / unreadable files excluded
#      with a count -> dump/raw/<set>; the folds rebuilt from the formatted corpus and re-checked
#      (no test speaker in train or valid, no utterance in two parts, no empty part).
#   4  ASR token list: sentencepiece model + tokens.txt (--nbpe, --bpemode).
#   5  ASR feature statistics (asr_train --collect_stats true, --nj jobs, aggregated).
#   6  ASR pretraining (asr_train; --ngpu > 1 = ESPnet DDP; --num_nodes > 1: Slurm, srun per node).
#   7  ASR decoding of the held-out ASR sets (asr_inference) and WER/CER.
#   8  Emotion statistics per fold (emo_train --collect_stats true).
#   9  Emotion fine-tuning per fold, initialised from the stage-6 model (--asr_init).
#   10 Batched emotion inference on each test fold (emo_inference).
#   11 Scoring: WA / UA / WF1 per fold and mean +- std, confusion matrix -> <emo exp>/RESULTS.md.
#   12 Packing: the selected checkpoint of each fold as <emo exp>/packed/fold<k>.zip (emo_pack).
# --asr_exp <exp dir | packed zip | that zip unpacked> reuses an existing ASR model: stages 2,
# 4-7 and the ASR part of stage 3 are skipped. --use_asr_init false trains emotion models from
# scratch (ablation).
# Every stage writes into a temporary dir and swaps it in only when it succeeded, so a re-run
# redoes a stage cleanly and a failed run never overwrites an earlier successful result.
# Training stages (6, 9) train in place: an interrupted run resumes from its checkpoint
# (ESPnet --resume); a finished one is redone from scratch and restored if the redo fails,
# also when the redo was killed and the re-run after it fails.
# Scale-out: --ngpu N trains with N GPUs of one node (ESPnet DDP, one process per GPU);
# --num_nodes M (CMD_BACKEND=slurm) runs it on M nodes of N GPUs each: one sbatch job of M
# nodes, srun starts one task per node, rank = node id, master = the job's first node.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (emo.sh:${BASH_LINENO[0]}) $*"; }
fail() { log "ERROR: $*" >&2; exit 1; }

# General
stage=1
stop_stage=12
nj=4                 # parallel jobs for formatting, statistics, decoding and inference
ngpu=0               # GPUs for training (> 1: ESPnet distributed data parallel)
num_nodes=1          # nodes for training (> 1: CMD_BACKEND=slurm, ngpu GPUs on each node)
inference_ngpu=0     # GPUs for decoding / inference
seed=0               # seed of the validation split (training seeds are in the configs)
dumpdir=dump/raw
expdir=exp
# Data
emo_corpus=iemocap   # <emo_data_dir>/<emo_corpus> written by local/emo_data.sh
emo_data_dir=data    # where stage 1 writes the emotion corpus and its folds (ASR sets stay in data/)
folds="1 2 3 4 5"
local_emo_data_opts=""
local_asr_data_opts=""
asr_train_set=asr_train
asr_valid_set=asr_valid
asr_test_sets="asr_test"
fs=16000
min_duration=0.3     # seconds; shorter utterances are excluded in stage 3
# ASR
asr_exp=""           # existing ASR exp dir, packed zip or its unpacked folder: skip stages 2, 4-7
asr_config=conf/train_asr_efficient_conformer.yaml
asr_args=""          # extra options for asr_train
asr_tag=""           # default: the asr_config file name
nbpe=5000
bpemode=unigram
inference_config=conf/decode_asr.yaml
inference_args=""    # extra options for asr_inference (e.g. "--beam_size 1")
inference_asr_model=valid.acc.best.pth
# Emotion
emo_config=conf/train_emo_qieemo.yaml
emo_args=""          # extra options for emo_train
emo_tag=""           # default: the emo_config file name
use_asr_init=true    # false: train from random weights (ablation "without ASR pretraining")
asr_model_file=""    # .pth inside the ASR exp (default: chosen by emo_train)
inference_emo_model=valid.ua.ave.pth   # mean of the keep_nbest_models best epochs by valid UA
inference_batch_size=8
help_message="Usage: $0 [--stage N] [--stop_stage M] [--folds \"1 3\"] [--asr_exp DIR|ZIP] [--asr_config YAML] [--emo_config YAML] [--ngpu N] [--num_nodes M] [--nj N] ...; see the header of $0."

. ./path.sh
. ./cmd.sh
. utils/parse_options.sh
[ $# -eq 0 ] || fail "unexpected argument(s): $*"

[ -n "${asr_tag}" ] || asr_tag="$(basename "${asr_config}" .yaml)"
[ -n "${emo_tag}" ] || emo_tag="$(basename "${emo_config}" .yaml)"
token_dir="data/token_list/bpe_${bpemode}${nbpe}"
bpemodel="${token_dir}/bpe.model"
token_list="${token_dir}/tokens.txt"
asr_stats_dir="${expdir}/asr_stats_${bpemode}${nbpe}"
emo_exp="${expdir}/emo_${emo_tag}"
if [ -n "${asr_exp}" ]; then
    skip_asr=true
    [ -e "${asr_exp}" ] || fail "--asr_exp ${asr_exp}: not found; expected an ESPnet ASR exp dir (config.yaml + .pth), a packed zip or that zip unpacked (meta.yaml at its root)"
    # An archive or model-hub folder is checked now, before any stage, as emo_train will unpack it.
    python -m espnet_qieemo.utils.safe_unpack "${asr_exp}" || fail "--asr_exp ${asr_exp}: refused (the reason is above)"
else
    skip_asr=false
    asr_exp="${expdir}/asr_${asr_tag}"
fi
for k in ${folds}; do
    [[ "${k}" =~ ^[1-9][0-9]*$ ]] || fail "--folds '${folds}': expected fold numbers such as \"1 3\""
done

run_stage() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
asr_stage() { run_stage "$1" && [ "${skip_asr}" = false ]; }

# Fresh staging dir for a stage's output; swap_in moves it onto the final path on success.
staging() { rm -rf "$1.tmp"; mkdir -p "$1.tmp"; echo "$1.tmp"; }
swap_in() {
    local final="$1"
    rm -rf "${final}.old"
    if [ -e "${final}" ]; then mv "${final}" "${final}.old"; fi
    mv "${final}.tmp" "${final}"
    rm -rf "${final}.old"
}

# Training into <dir> (ESPnet configs name files inside it, so it cannot be trained elsewhere
# and moved): an unfinished <dir> resumes; a finished one (.done) is set aside and comes back
# if the new run fails, so a failed re-run never destroys a good model.
train_into() {
    local dir="$1"
    shift
    # A finished <dir> is set aside; an unfinished one (killed) is resumed, and a finished
    # <dir>.old that the killed run had set aside is kept until this run succeeds.
    if [ -f "${dir}/.done" ]; then
        rm -rf "${dir}.old"
        mv "${dir}" "${dir}.old"
    fi
    mkdir -p "${dir}"
    if ! "$@"; then
        if [ -d "${dir}.old" ]; then
            rm -rf "${dir}"
            mv "${dir}.old" "${dir}"
            log "restored the previous finished ${dir}"
        fi
        fail "training failed; see ${dir}/train.log (a re-run resumes from its last checkpoint)"
    fi
    rm -rf "${dir}.old"
    touch "${dir}/.done"
}

# A checkpoint file of an exp dir, or a clear error listing the ones that exist.
model_in() {
    [ -e "$1/$2" ] || fail "$1/$2 not found (present: $(cd "$1" 2>/dev/null && for f in *.pth; do [ ! -e "${f}" ] || printf '%s ' "${f}"; done)); set --inference_asr_model / --inference_emo_model"
    echo "$1/$2"
}

# Deal the keys of a table file round-robin into <dir>/keys.<i>.scp, i = 1..n.
split_keys() {
    mkdir -p "$2"
    awk -v n="$3" -v d="$2" '{ print $1 > (d "/keys." ((NR - 1) % n + 1) ".scp") }' "$1"
}

# min(<n>, number of lines of each given file); fails on an empty file.
num_jobs() {
    local n="$1" f lines
    shift
    for f in "$@"; do
        lines=$(wc -l <"${f}")
        [ "${lines}" -gt 0 ] || fail "${f}: empty"
        [ "${lines}" -ge "${n}" ] || n="${lines}"
    done
    echo "${n}"
}

[[ "${num_nodes}" =~ ^[1-9][0-9]*$ ]] || fail "--num_nodes ${num_nodes}: expected a positive number"
if [ "${num_nodes}" -gt 1 ] && [ "${cmd_backend}" != slurm ]; then
    fail "--num_nodes ${num_nodes}: multi-node training needs CMD_BACKEND=slurm (now ${cmd_backend})"
fi
if [ "${num_nodes}" -gt 1 ] && [ "${ngpu}" -lt 1 ]; then
    fail "--num_nodes ${num_nodes}: multi-node training needs --ngpu >= 1 (GPUs per node)"
fi
# ESPnet's own DDP: one process per GPU, spawned by ESPnet on each node; across nodes ESPnet
# reads the node count, node rank and master from WORLD_SIZE / RANK / MASTER_* (run_slurm.sh).
train_opts=(--ngpu "${ngpu}")
if [ "${ngpu}" -gt 1 ] || [ "${num_nodes}" -gt 1 ]; then train_opts+=(--multiprocessing_distributed true); fi

# Data options of asr_train: the train and valid sets.
asr_data_opts=(
    --train_data_path_and_name_and_type "${dumpdir}/${asr_train_set}/wav.scp,speech,sound"
    --train_data_path_and_name_and_type "${dumpdir}/${asr_train_set}/text,text,text"
    --valid_data_path_and_name_and_type "${dumpdir}/${asr_valid_set}/wav.scp,speech,sound"
    --valid_data_path_and_name_and_type "${dumpdir}/${asr_valid_set}/text,text,text"
)

# Data options of emo_train for <fold dir>: its train and valid parts -> ${emo_data_opts[@]}.
set_emo_data_opts() {
    local part
    emo_data_opts=()
    for part in train valid; do
        emo_data_opts+=("--${part}_data_path_and_name_and_type" "$1/${part}/wav.scp,speech,sound"
                        "--${part}_data_path_and_name_and_type" "$1/${part}/emotion,emotion,text")
    done
}

emo_init_opts=()
if [ "${use_asr_init}" = true ]; then
    emo_init_opts=(--asr_init "${asr_exp}")
    if [ -n "${asr_model_file}" ]; then emo_init_opts+=(--asr_model_file "${asr_model_file}"); fi
fi

label_list="${emo_data_dir}/${emo_corpus}/labels"

if run_stage 1; then
    log "Stage 1: emotion corpus prep (local/emo_data.sh) -> ${emo_data_dir}/${emo_corpus}, ${emo_data_dir}/fold*"
    # shellcheck disable=SC2086  # ${local_emo_data_opts}: an options string, split into arguments on purpose
    local/emo_data.sh --out "${emo_data_dir}" --seed "${seed}" ${local_emo_data_opts} \
        || fail "stage 1: emotion corpus prep failed (the reason is above)"
    [ -s "${label_list}" ] || fail "stage 1: ${label_list} missing; local/emo_data.sh must write the class list there"
fi

if asr_stage 2; then
    log "Stage 2: ASR corpus prep (local/asr_data.sh) -> data/{${asr_train_set},${asr_valid_set},${asr_test_sets// /,}}"
    # shellcheck disable=SC2086  # ${local_asr_data_opts}: an options string, split into arguments on purpose
    local/asr_data.sh --out data --train_set "${asr_train_set}" --valid_set "${asr_valid_set}" \
        --test_sets "${asr_test_sets}" ${local_asr_data_opts} \
        || fail "stage 2: ASR corpus prep failed (the reason is above)"
fi

if run_stage 3; then
    log "Stage 3: audio formatting (${fs} Hz mono, >= ${min_duration} s) -> ${dumpdir}"
    sets=("${emo_data_dir}/${emo_corpus}")
    if [ "${skip_asr}" != true ]; then
        sets+=("data/${asr_train_set}" "data/${asr_valid_set}")
        for s in ${asr_test_sets}; do sets+=("data/${s}"); done
    fi
    format_opts=()
    for s in "${sets[@]}"; do
        [ -s "${s}/wav.scp" ] || fail "stage 3: ${s}/wav.scp missing; run stage $([ "${s}" = "${emo_data_dir}/${emo_corpus}" ] && echo 1 || echo 2) first"
        format_opts+=(--set "${s}" "${dumpdir}/$(basename "${s}")")
    done
    python -m pyscripts.format_audio --fs "${fs}" --min_duration "${min_duration}" --nj "${nj}" "${format_opts[@]}" \
        || fail "stage 3: audio formatting failed (the reason is above)"
    fold_opts=()
    for k in ${folds}; do fold_opts+=(--fold "${emo_data_dir}/fold${k}" "${dumpdir}/fold${k}"); done
    python -m pyscripts.folds derive --corpus "${dumpdir}/${emo_corpus}" "${fold_opts[@]}" \
        || fail "stage 3: a formatted fold failed its check (the reason is above)"
fi

if asr_stage 4; then
    log "Stage 4: sentencepiece ${bpemode} token list (${nbpe}) -> ${token_dir}"
    python -m pyscripts.bpe --text "${dumpdir}/${asr_train_set}/text" --vocab_size "${nbpe}" \
        --model_type "${bpemode}" --out "${token_dir}" || fail "stage 4: token list failed (the reason is above)"
fi

asr_common_opts=(--use_preprocessor true --token_type bpe --bpemodel "${bpemodel}" --token_list "${token_list}"
    --non_linguistic_symbols none --cleaner none --g2p none --config "${asr_config}")

if asr_stage 5; then
    log "Stage 5: ASR feature statistics -> ${asr_stats_dir}"
    tmp=$(staging "${asr_stats_dir}")
    n=$(num_jobs "${nj}" "${dumpdir}/${asr_train_set}/wav.scp" "${dumpdir}/${asr_valid_set}/wav.scp")
    split_keys "${dumpdir}/${asr_train_set}/wav.scp" "${tmp}/logdir/train" "${n}"
    split_keys "${dumpdir}/${asr_valid_set}/wav.scp" "${tmp}/logdir/valid" "${n}"
    # shellcheck disable=SC2086  # ${asr_args}: an options string, split into arguments on purpose
    ${train_cmd} JOB=1:"${n}" "${tmp}/logdir/stats.JOB.log" \
        python -m espnet_qieemo.bin.asr_train --collect_stats true --ngpu 0 "${asr_common_opts[@]}" \
        "${asr_data_opts[@]}" \
        --train_shape_file "${tmp}/logdir/train/keys.JOB.scp" --valid_shape_file "${tmp}/logdir/valid/keys.JOB.scp" \
        --output_dir "${tmp}/logdir/stats.JOB" ${asr_args}
    inputs=()
    for i in $(seq "${n}"); do inputs+=(--input_dir "${tmp}/logdir/stats.${i}"); done
    python -m espnet2.bin.aggregate_stats_dirs "${inputs[@]}" --output_dir "${tmp}"
    n_tokens=$(wc -l <"${token_list}")
    for split in train valid; do  # asr.sh's convention: text shapes carry the vocabulary size
        awk -v N="${n_tokens}" '{ print $0 "," N }' "${tmp}/${split}/text_shape" >"${tmp}/${split}/text_shape.bpe"
    done
    swap_in "${asr_stats_dir}"
fi

if asr_stage 6; then
    log "Stage 6: ASR pretraining (${asr_config}, ngpu=${ngpu}) -> ${asr_exp}"
    # shellcheck disable=SC2086  # ${cuda_cmd} (a command line), ${asr_args}: split into arguments on purpose
    train_into "${asr_exp}" ${cuda_cmd} --gpu "${ngpu}" --nodes "${num_nodes}" --name "asr_${asr_tag}" "${asr_exp}/train.log" \
        python -m espnet_qieemo.bin.asr_train "${train_opts[@]}" "${asr_common_opts[@]}" --resume true \
        --normalize global_mvn --normalize_conf "stats_file=${asr_stats_dir}/train/feats_stats.npz" \
        "${asr_data_opts[@]}" \
        --train_shape_file "${asr_stats_dir}/train/speech_shape" --train_shape_file "${asr_stats_dir}/train/text_shape.bpe" \
        --valid_shape_file "${asr_stats_dir}/valid/speech_shape" --valid_shape_file "${asr_stats_dir}/valid/text_shape.bpe" \
        --fold_length 80000 --fold_length 150 --output_dir "${asr_exp}" ${asr_args}
fi

if asr_stage 7; then
    model=$(model_in "${asr_exp}" "${inference_asr_model}")
    for test_set in ${asr_test_sets}; do
        out="${asr_exp}/decode_${inference_asr_model%.pth}/${test_set}"
        log "Stage 7: ASR decoding of ${test_set} with ${model} -> ${out}"
        tmp=$(staging "${out}")
        n=$(num_jobs "${nj}" "${dumpdir}/${test_set}/wav.scp")
        split_keys "${dumpdir}/${test_set}/wav.scp" "${tmp}/logdir" "${n}"
        # shellcheck disable=SC2086  # ${inference_args}: an options string, split into arguments on purpose
        ${decode_cmd} --gpu "${inference_ngpu}" JOB=1:"${n}" "${tmp}/logdir/asr_inference.JOB.log" \
            python -m espnet_qieemo.bin.asr_inference --batch_size 1 --ngpu "${inference_ngpu}" \
            --data_path_and_name_and_type "${dumpdir}/${test_set}/wav.scp,speech,sound" \
            --key_file "${tmp}/logdir/keys.JOB.scp" --asr_train_config "${asr_exp}/config.yaml" \
            --asr_model_file "${model}" --config "${inference_config}" --output_dir "${tmp}/logdir/output.JOB" ${inference_args}
        for i in $(seq "${n}"); do cat "${tmp}/logdir/output.${i}/1best_recog/text"; done | sort >"${tmp}/text"
        swap_in "${out}"
        python -m pyscripts.asr_wer --ref "${dumpdir}/${test_set}/text" --hyp "${out}/text" --out "${out}/result.txt" \
            || fail "stage 7: WER scoring of ${test_set} failed (the reason is above)"
    done
fi

if run_stage 8; then
    for k in ${folds}; do
        fold="${dumpdir}/fold${k}"
        out="${expdir}/emo_stats/fold${k}"
        log "Stage 8: emotion feature statistics of fold ${k} -> ${out}"
        tmp=$(staging "${out}")
        set_emo_data_opts "${fold}"
        # shellcheck disable=SC2086  # ${emo_args}: an options string, split into arguments on purpose
        ${train_cmd} "${tmp}/stats.log" \
            python -m espnet_qieemo.bin.emo_train --collect_stats true --ngpu 0 --config "${emo_config}" \
            --label_list "${label_list}" "${emo_init_opts[@]}" \
            "${emo_data_opts[@]}" \
            --train_shape_file "${fold}/train/wav.scp" --valid_shape_file "${fold}/valid/wav.scp" \
            --output_dir "${tmp}" ${emo_args}
        swap_in "${out}"
    done
fi

if run_stage 9; then
    for k in ${folds}; do
        fold="${dumpdir}/fold${k}"
        stats="${expdir}/emo_stats/fold${k}"
        out="${emo_exp}/fold${k}"
        log "Stage 9: emotion training of fold ${k} (${emo_config}; init: $([ "${use_asr_init}" = true ] && echo "${asr_exp}" || echo scratch)) -> ${out}"
        set_emo_data_opts "${fold}"
        # shellcheck disable=SC2086  # ${cuda_cmd} (a command line), ${emo_args}: split into arguments on purpose
        train_into "${out}" ${cuda_cmd} --gpu "${ngpu}" --nodes "${num_nodes}" --name "emo_fold${k}" "${out}/train.log" \
            python -m espnet_qieemo.bin.emo_train "${train_opts[@]}" --config "${emo_config}" --resume true \
            --label_list "${label_list}" "${emo_init_opts[@]}" \
            "${emo_data_opts[@]}" \
            --train_shape_file "${stats}/train/speech_shape" --valid_shape_file "${stats}/valid/speech_shape" --fold_length 80000 \
            --output_dir "${out}" ${emo_args}
    done
fi

if run_stage 10; then
    for k in ${folds}; do
        exp_k="${emo_exp}/fold${k}"
        model=$(model_in "${exp_k}" "${inference_emo_model}")
        out="${exp_k}/inference_${inference_emo_model%.pth}/test"
        log "Stage 10: emotion inference on fold ${k} test with ${model} -> ${out}"
        tmp=$(staging "${out}")
        # emo_inference exits non-zero when some inputs failed; those are listed in errors and
        # scored as wrong in stage 11, anything else stops here.
        ${decode_cmd} --gpu "${inference_ngpu}" "${tmp}/inference.log" \
            python -m espnet_qieemo.bin.emo_inference --ngpu "${inference_ngpu}" --nj "${nj}" \
            --batch_size "${inference_batch_size}" --train_config "${exp_k}/config.yaml" --model_file "${model}" \
            --data_path_and_name_and_type "${dumpdir}/fold${k}/test/wav.scp,speech,sound" --output_dir "${tmp}" \
            || [ -s "${tmp}/errors" ] || fail "stage 10: emo_inference failed for fold ${k}; see ${tmp}/inference.log"
        swap_in "${out}"
    done
fi

if run_stage 11; then
    log "Stage 11: scoring folds ${folds} -> ${emo_exp}/RESULTS.md"
    score_opts=()
    for k in ${folds}; do
        score_opts+=(--fold "fold${k}" "${dumpdir}/fold${k}" "${emo_exp}/fold${k}/inference_${inference_emo_model%.pth}/test")
        score_opts+=(--config "${emo_exp}/fold${k}/config.yaml")
    done
    if [ "${use_asr_init}" = true ] && [ -f "${asr_exp}/config.yaml" ]; then
        score_opts+=(--config "${asr_exp}/config.yaml")
    fi
    python -m pyscripts.emo_score "${score_opts[@]}" --out_dir "${emo_exp}/scores" \
        --title "${emo_corpus}: ${emo_tag} (${inference_emo_model}, validation split seed ${seed})" \
        || fail "stage 11: scoring failed (the reason is above)"
    sed 's#](confusion.png)#](scores/confusion.png)#' "${emo_exp}/scores/RESULTS.md" >"${emo_exp}/.RESULTS.md.tmp"
    mv "${emo_exp}/.RESULTS.md.tmp" "${emo_exp}/RESULTS.md"
fi

if run_stage 12; then
    tmp=$(staging "${emo_exp}/packed")
    for k in ${folds}; do
        exp_k="${emo_exp}/fold${k}"
        model=$(model_in "${exp_k}" "${inference_emo_model}")
        log "Stage 12: packing ${model} -> ${emo_exp}/packed/fold${k}.zip"
        python -m espnet_qieemo.bin.emo_pack --train_config "$(readlink -f "${exp_k}/config.yaml")" \
            --model_file "$(readlink -f "${model}")" --option "$(readlink -f "${emo_exp}/RESULTS.md")" \
            --outpath "$(readlink -f "${tmp}")/fold${k}.zip"
    done
    swap_in "${emo_exp}/packed"
fi

log "Successfully finished stages ${stage}-${stop_stage}."
