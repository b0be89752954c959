#!/usr/bin/env bash
# Qieemo on public corpora, CPU only (`make demo`): emotion fine-tuning on EmoDB over five
# speaker-pair folds from ASR backbones pretrained on speechocean762 (shipped in pretrained/),
# the paper's ablations, a classical baseline (eGeMAPS + linear SVM) and the per-block linear
# probe, in one table (RESULTS.md). The stages of each training are emo.sh's (shared with the
# IEMOCAP recipe); this script runs it once per system and seed.
#
# Stages (--stage N --stop_stage M):
#   1  data (EmoDB folds) and the two ASR backbones: the shipped zips, or with --train_asr true
#      trained here from speechocean762 + Mini LibriSpeech (emo.sh stages 2, 4-7) and packed like
#      the shipped ones. With --asr_pilots true, backbone 1 first runs --pilot_epochs epochs of
#      every recipe in --asr_candidates; the one with the lowest validation CTC CER wins
#      (${expdir}/asr_recipe), both backbones train with it, and backbone 1's winning pilot is
#      not rerun: its long run resumes it.
#   2  CMA form selection (--select_cma true): the full model trained with every form in
#      --cma_forms, first seed, five folds; the form with the best mean validation UA is written
#      to ${expdir}/cma_form. No test fold is read (candidates are not even run on them).
#      Without it: the config's form.
#   3  the table's systems, once per seed in --seeds, with the chosen form wherever CMA is used
#   4  eGeMAPS + linear SVM, and the per-block probe of backbone 1
#   5  RESULTS.md (and README.md's demo section) from the inference outputs
#   6  leave-one-corpus-out (--loco true, local/loco.sh): the multi-corpus model (EmoDB, RAVDESS,
#      TESS; conf/train_emo_qieemo_multicorpus.yaml) trained on all corpora but one and tested on
#      it, once per recipe in --loco_candidates, against eGeMAPS + linear SVM, with calibration
#      (ECE before / after on the held-out corpus) -> RESULTS_loco.md; the recipe with the best
#      mean held-out UA -> ${expdir}/loco/choice
#   7  the CLI's default model (--default_model true, after stage 6): the chosen recipe trained on
#      every corpus, calibrated on its validation part, packed
# Examples:
#   ./run.sh                        # the demo on the shipped backbones, seed 0 (about 50 min on 2 cores)
#   ./run.sh --seeds "0 1 2"        # every system with three training seeds on the same folds
#   ./run.sh --select_cma true      # choose the CMA form on validation UA first
#   ./run.sh --train_asr true       # retrain both backbones first (speechocean762 + Mini LibriSpeech)
#   ./run.sh --train_asr true --asr_pilots true --stop_stage 1  # pilots, then both backbones
#   ./run.sh --train_asr true --stop_stage 1   # only that: reproduces pretrained/asr_*.zip
#   ./run.sh --stage 6 --loco true --default_model true  # leave-one-corpus-out table, then the CLI's default model
#   ./run.sh --all_classes true     # seven EmoDB emotions instead of four (RESULTS_7class.md)
#   EMODB=/data/emodb/wav SPEECHOCEAN762=/data/speechocean762 LIBRISPEECH=/data/LibriSpeech ./run.sh
set -euo pipefail
stage=1
stop_stage=7
all_classes=false   # true: all seven EmoDB emotions
parallel=2          # trainings at the same time (one CPU thread each)
nj=2
folds="1 2 3 4 5"
seeds="0"           # training seeds (the folds and their validation split stay those of seed 0)
train_asr=false     # true: train the two backbones here instead of using pretrained/*.zip
asr_pilots=false    # true: choose the ASR recipe among --asr_candidates by short pilots first
# ASR recipes over the configs, "name|asr_train options": the pilots' candidates (the first
# is used without pilots, or the winner recorded in ${expdir}/asr_recipe).
asr_candidates="base|"
pilot_epochs=2
backbones=""        # folder of the two packed backbones (default: pretrained, or ${expdir}/pretrained with --train_asr true)
select_cma=false    # true: stage 2 chooses the CMA form on validation UA
cma_forms="literal residual concat multihead gated"
loco=false          # true: stage 6, the leave-one-corpus-out table (RESULTS_loco.md)
loco_corpora=emodb,ravdess,tess
# Recipes of the multi-corpus model, "name|emo_train options", ranked by mean held-out UA in stage 6:
# the config as is (augmented), without augmentation, with the encoder frozen throughout, with
# twice the epochs, with half the learning rate.
loco_candidates="aug|;noaug|--rir_scp none --noise_scp none --gain_db_range none --preprocessor_conf data_aug_prob=0.0"
loco_candidates+=";frozen|--model_conf freeze_encoder_steps=1000000;epochs12|--max_epoch 12;lr0.001|--optim_conf lr=0.001"
default_model=false # true: stage 7 trains and packs the model the CLI uses when none is given
nbpe=40             # token list size asked of sentencepiece (characters: it keeps what the text has)
bpemode=char        # sentencepiece model type: char, or unigram / bpe for subwords
emo_args=""         # extra emo_train options for every emotion training (e.g. "--max_epoch 2")
expdir=""           # default: exp (exp_7class with --all_classes true)
help_message="Usage: $0 [--stage N] [--stop_stage M] [--seeds \"0 1 2\"] [--select_cma true] [--train_asr true] [--loco true] [--default_model true] [--parallel N] [--folds \"1 2\"]; see the header of $0."
. ./path.sh
. utils/parse_options.sh

if [ "${all_classes}" = true ]; then
    results=RESULTS_7class.md; images=images_7class; expdir="${expdir:-exp_7class}"
else
    results=RESULTS.md; images=images; expdir="${expdir:-exp}"
fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1  # threads fight on a small CPU; run trainings side by side
asr1=conf/train_asr_efficient_conformer_so762.yaml
asr2=conf/train_asr_conformer_so762.yaml
full=conf/train_emo_qieemo_small.yaml
common=(--emo_corpus emodb --expdir "${expdir}" --nj "${nj}" --folds "${folds}" --min_duration 0.2
        --asr_test_sets "asr_test asr_test_librispeech"
        --nbpe "${nbpe}" --bpemode "${bpemode}" --local_emo_data_opts "--all_classes ${all_classes}")
asr_model=valid.cer_ctc.ave.pth  # ESPnet's average of the 5 epochs with the lowest validation CTC CER
asr_opts=(--inference_asr_model "${asr_model}" --inference_config conf/decode_asr_ctc.yaml)
log() { echo "$(date '+%H:%M:%S') $*"; }
run_stage() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
first_seed="${seeds%% *}"
read -r -a fold_list <<<"${folds}"  # as separate arguments: --folds 1 2 ... --seeds 0 1 ...
read -r -a seed_list <<<"${seeds}"
mkdir -p "${expdir}/logs"

if [ -z "${backbones}" ]; then
    if [ "${train_asr}" = true ]; then backbones="${expdir}/pretrained"; else backbones=pretrained; fi
fi
bb1="${backbones}/asr_efficient_conformer_so762.zip"
bb2="${backbones}/asr_conformer_so762.zip"

IFS=';' read -r -a candidates <<<"${asr_candidates}"
asr_dir() { echo "${expdir}/asr_$(basename "$1" .yaml)_$2"; }  # <config> <recipe name>
asr_recipe() {  # "name|options": the pilots' winner, else the first candidate
    local name c
    name=$(cat "${expdir}/asr_recipe" 2>/dev/null || echo "${candidates[0]%%|*}")
    for c in "${candidates[@]}"; do [ "${c%%|*}" != "${name}" ] || { echo "${c}"; return; }; done
    echo "$0: ASR recipe '${name}' (${expdir}/asr_recipe) is not in --asr_candidates" >&2
    return 1
}
# ASR trainings side by side, one core each; each job: <config> <recipe name> <options> <last stage>.
run_asr() {
    local pids=() pid job
    for job in "$@"; do
        eval "set -- ${job}"
        ./emo.sh "${common[@]}" "${asr_opts[@]}" --nj 1 --stage 6 --stop_stage "$4" --asr_config "$1" \
            --asr_tag "$(basename "$1" .yaml)_$2" \
            --asr_args "$3" --emo_config "${full}" >>"${expdir}/logs/asr_$(basename "$1" .yaml)_$2.log" 2>&1 &
        pids+=("$!")
    done
    for pid in "${pids[@]}"; do
        wait "${pid}" || { echo "$0: ASR training failed; see ${expdir}/logs/asr_*.log" >&2; exit 1; }
    done
}

# ---- 1: data and backbones ----
if run_stage 1; then
    if [ "${train_asr}" = true ]; then
        ./emo.sh "${common[@]}" "${asr_opts[@]}" --stage 1 --stop_stage 5 --asr_config "${asr1}" --emo_config "${full}"
        if [ "${asr_pilots}" = true ]; then
            pilot_jobs=()
            pilot_opts=()
            for c in "${candidates[@]}"; do
                pilot_jobs+=("$(printf '%q ' "${asr1}" "${c%%|*}" "${c#*|} --max_epoch ${pilot_epochs}" 6)")
                pilot_opts+=(--pilot "${c%%|*}" "$(asr_dir "${asr1}" "${c%%|*}")")
            done
            # A pilot is the first epochs of its long run, never finished: stage 6 resumes it
            # (a rerun of the pilots, or the winner's long run) instead of starting it anew.
            unfinish_pilots() { for c in "${candidates[@]}"; do rm -f "$(asr_dir "${asr1}" "${c%%|*}")/.done"; done; }
            unfinish_pilots
            run_asr "${pilot_jobs[@]}"
            unfinish_pilots
            python -m pyscripts.asr_pilots "${pilot_opts[@]}" --table "${expdir}/asr_pilots.md" >"${expdir}/asr_recipe.tmp"
            mv "${expdir}/asr_recipe.tmp" "${expdir}/asr_recipe"
            log "ASR recipe chosen on validation CTC CER: $(cat "${expdir}/asr_recipe") (${expdir}/asr_pilots.md)"
        fi
        recipe=$(asr_recipe)
        run_asr "$(printf '%q ' "${asr1}" "${recipe%%|*}" "${recipe#*|}" 7)" \
            "$(printf '%q ' "${asr2}" "${recipe%%|*}" "${recipe#*|}" 7)"
        for asr in "${asr1}" "${asr2}"; do
            name=$(basename "${asr}" .yaml)
            local/pack_asr.sh "$(asr_dir "${asr}" "${recipe%%|*}")/${asr_model}" "${expdir}/asr_stats_${bpemode}${nbpe}" \
                "data/token_list/bpe_${bpemode}${nbpe}" "${backbones}/asr_${name#train_asr_}.zip"
        done
    else
        ./emo.sh "${common[@]}" --stage 1 --stop_stage 3 --asr_exp "${bb1}" --emo_config "${full}"
    fi
    ./emo.sh "${common[@]}" --stage 8 --stop_stage 8 --asr_exp "${bb1}" --emo_config "${full}"
fi

# One emotion system for one seed, logged: emo.sh stage 9 on the folds not trained yet (a
# finished fold is kept, an interrupted one resumes), then stages 10-11 (12 for the full
# model) on every fold; stage 9 only with TRAIN_ONLY=1 (candidates).
# <name> <emotion config> <backbone> <initialise from it> <exp tag> <seed> [extra emo_train options]
train_system() {
    local name="$1" emo="$2" asr="$3" init="$4" tag="$5" seed="$6" extra="${7:-}"
    local logf="${expdir}/logs/${tag}_seed${seed}.log" last=11 k todo=""
    [ "${tag}" = "cma_$(chosen_form)" ] && last=12
    [ "${TRAIN_ONLY:-0}" = 1 ] && last=9
    for k in ${folds}; do [ -f "${expdir}/emo_${tag}_seed${seed}/fold${k}/.done" ] || todo+=" ${k}"; done
    log "${name} (seed ${seed}): training folds:${todo:- none}, then stages 10-${last}"
    local opts=(--asr_exp "${asr}" --emo_config "${emo}" --use_asr_init "${init}" --emo_tag "${tag}_seed${seed}"
                --emo_args "--seed ${seed} ${extra} ${emo_args}")
    {
        { [ -z "${todo}" ] || ./emo.sh "${common[@]}" "${opts[@]}" --folds "${todo# }" --stage 9 --stop_stage 9; } \
            && { [ "${last}" -lt 10 ] || ./emo.sh "${common[@]}" "${opts[@]}" --stage 10 --stop_stage "${last}"; }
    } >>"${logf}" 2>&1 || { echo "$0: system '${name}' (seed ${seed}) failed; see ${logf}" >&2; return 1; }
}
# Run the queued "train_system" argument lists ${parallel} at a time; fail if any failed.
run_queue() {
    local pids=() failed=0 pid
    for job in "$@"; do
        eval "set -- ${job}"
        train_system "$@" &
        pids+=("$!")
        while [ "$(jobs -rp | wc -l)" -ge "${parallel}" ]; do wait -n || true; done
    done
    for pid in "${pids[@]}"; do wait "${pid}" || failed=1; done
    [ "${failed}" = 0 ] || { echo "$0: some trainings failed (see above)" >&2; exit 1; }
}
trained() {  # <exp tag> <seed>: trained on every fold
    local k
    for k in ${folds}; do [ -f "${expdir}/emo_$1_seed$2/fold${k}/.done" ] || return 1; done
}
form_matches() {  # <exp tag> <seed> <extra options>: folds trained so far used the CMA form asked for
    local want conf
    want=$(sed -n 's/.*form=\([a-z]*\).*/\1/p' <<<"$3")
    [ -n "${want}" ] || return 0
    for conf in "${expdir}/emo_$1_seed$2"/fold*/config.yaml; do
        [ -f "${conf}" ] || continue
        sed -n '/^attention_conf:/,/^[^ ]/p' "${conf}" | grep -q "^ *form: ${want}$" && continue
        echo "$0: ${conf} was trained with another CMA form than '${want}' (chosen since?); delete" \
            "${expdir}/emo_$1_seed$2 or use another --expdir to retrain it" >&2
        return 1
    done
}
finished() {  # <exp tag> <seed>: trained and scored on every fold
    trained "$1" "$2" && [ -f "${expdir}/emo_$1_seed$2/RESULTS.md" ]
}

chosen_form() {
    if [ -s "${expdir}/cma_form" ]; then cat "${expdir}/cma_form"; else
        python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['attention_conf']['form'])" "${full}"
    fi
}
candidate_opts() {  # --selection NAME PATTERN per CMA form
    for form in ${cma_forms}; do
        printf '%s\n' --selection "${form}" "${expdir}/emo_cma_${form}_seed{seed}/fold{fold}"
    done
}

# ---- 2: CMA form chosen on validation UA ----
if run_stage 2 && [ "${select_cma}" = true ]; then
    jobs_=()
    for form in ${cma_forms}; do
        trained "cma_${form}" "${first_seed}" && continue
        jobs_+=("$(printf '%q ' "CMA form ${form}" "${full}" "${bb1}" true "cma_${form}" "${first_seed}" "--attention_conf form=${form}")")
    done
    TRAIN_ONLY=1 run_queue "${jobs_[@]}"  # only the chosen form and literal are tested, in stage 3
    mapfile -t sel < <(candidate_opts)
    python -m local.demo_results --print_choice --fold_dir "dump/raw/fold{fold}" --folds "${fold_list[@]}" \
        --seeds "${first_seed}" "${sel[@]}" | tail -n 1 >"${expdir}/cma_form.tmp"
    mv "${expdir}/cma_form.tmp" "${expdir}/cma_form"
    log "CMA form chosen on validation UA: $(cat "${expdir}/cma_form")"
fi

chosen=$(chosen_form)
form_opt="--attention_conf form=${chosen}"
# row name | emotion config | backbone | initialise from it | exp tag | extra emo_train options
systems=(
    "Qieemo (full, CMA form ${chosen})|${full}|${bb1}|true|cma_${chosen}|${form_opt}"
    "literal CMA (paper eqs. 6-8)|${full}|${bb1}|true|cma_literal|--attention_conf form=literal"
    "without CMA|conf/train_emo_qieemo_no_cma_small.yaml|${bb1}|true|no_cma|"
    "without MMF (PPG only)|conf/train_emo_qieemo_no_mmf_small.yaml|${bb1}|true|no_mmf|${form_opt}"
    "without ASR pretraining (scratch)|conf/train_emo_qieemo_scratch_so762.yaml|${bb1}|false|scratch|${form_opt}"
    "backbone 2 (ESPnet conformer)|conf/train_emo_qieemo_conformer_small.yaml|${bb2}|true|conformer|${form_opt}"
)

# ---- 3: every system, every seed (a system finished on every fold is kept, one trained in
#         stage 2 is only run on the test folds: delete exp/emo_<tag>_seed<seed> to redo it) ----
if run_stage 3; then
    jobs_=()
    declare -A queued=()
    for seed in ${seeds}; do
        for entry in "${systems[@]}"; do
            IFS='|' read -r name emo asr init tag extra <<<"${entry}"
            [ -z "${queued[${tag}_${seed}]:-}" ] || continue  # the literal form chosen: one row twice, one training
            queued[${tag}_${seed}]=1
            form_matches "${tag}" "${seed}" "${extra}" || exit 1
            finished "${tag}" "${seed}" && { log "kept: ${name} (seed ${seed})"; continue; }
            jobs_+=("$(printf '%q ' "${name}" "${emo}" "${asr}" "${init}" "${tag}" "${seed}" "${extra}")")
        done
    done
    run_queue "${jobs_[@]}"
fi

# ---- 4: classical baseline and per-block probe on the same formatted folds ----
if run_stage 4; then
    svm_opts=(); probe_opts=()
    for k in ${folds}; do
        svm_opts+=(--fold "dump/raw/fold${k}" "${expdir}/egemaps_svm/fold${k}/test")
        probe_opts+=(--fold "dump/raw/fold${k}")
    done
    python -m local.egemaps_svm --labels data/emodb/labels --seed 0 "${svm_opts[@]}"
    read -r bb1_config bb1_model < <(python -c "import sys; from espnet_qieemo.utils.safe_unpack import unpack
f = unpack(sys.argv[1], sys.argv[2]); print(f['asr_train_config'], f['asr_model_file'])" "${bb1}" "${expdir}/backbone1" | tail -n 1)
    python -m local.layer_probe --asr_config "${bb1_config}" --asr_model_file "${bb1_model}" \
        --labels data/emodb/labels --seed 0 "${probe_opts[@]}" --out_dir "${expdir}/layer_probe" \
        --title "EmoDB: probe per block of the speechocean762 efficient conformer"
fi

# ---- 5: one table from the inference outputs of every system ----
if run_stage 5; then
    result_opts=()
    for entry in "${systems[@]}"; do
        IFS='|' read -r name _ _ _ tag _ <<<"${entry}"
        result_opts+=(--system "${name}" "${expdir}/emo_${tag}_seed{seed}/fold{fold}/inference_valid.ua.ave/test")
    done
    result_opts+=(--system "eGeMAPS + linear SVM" "${expdir}/egemaps_svm/fold{fold}/test")
    sel=()
    [ "${select_cma}" = false ] || mapfile -t sel < <(candidate_opts)
    readme=()
    [ "${all_classes}" = true ] || readme=(--readme "${MAIN_ROOT}/README.md")
    if [ "${train_asr}" = true ]; then origin="trained in this run on speechocean762"; else origin="the shipped speechocean762 ASR models (pretrained/README.md)"; fi
    setup="Backbones: ${origin}. Training seeds: ${seeds// /, } (each system once per seed on the same folds; validation split, SVM and probe seed 0)."
    python -m local.demo_results --fold_dir "dump/raw/fold{fold}" --folds "${fold_list[@]}" --seeds "${seed_list[@]}" \
        "${result_opts[@]}" "${sel[@]}" --setup "${setup}" --notes CHOICES.md \
        --epochs "${expdir}/emo_cma_${chosen}_seed{seed}/fold{fold}" \
        --probe "${expdir}/layer_probe/probe.json" --images_dir "${images}" --out "${results}" "${readme[@]}"
fi

multicorpus=conf/train_emo_qieemo_multicorpus.yaml
# ---- 6: leave-one-corpus-out table of the multi-corpus model ----
if run_stage 6 && [ "${loco}" = true ]; then
    readmes=""  # the repository's README and the model card, where this recipe sits in the repository
    for f in ../../../README.md pretrained/README.md; do [ ! -f "${f}" ] || readmes+=" ${f}"; done
    local/loco.sh --readmes "${readmes# }" --expdir "${expdir}/loco" --asr_exp "${bb1}" --corpora "${loco_corpora}" --emo_config "${multicorpus}" \
        --candidates "${loco_candidates}" --emo_args "${form_opt} ${emo_args}" --parallel "${parallel}" --nj "${nj}" \
        --out RESULTS_loco.md
fi

# ---- 7: the CLI's default model, with the recipe stage 6 chose ----
if run_stage 7 && [ "${default_model}" = true ]; then
    IFS=';' read -r -a loco_list <<<"${loco_candidates}"
    chosen_recipe=$(cat "${expdir}/loco/choice" 2>/dev/null || echo "${loco_list[0]%%|*}")
    recipe_opts=""
    for c in "${loco_list[@]}"; do [ "${c%%|*}" != "${chosen_recipe}" ] || recipe_opts="${c#*|}"; done
    log "default model: recipe ${chosen_recipe}"
    local/train_default_model.sh --expdir "${expdir}/loco" --asr_exp "${bb1}" --emo_config "${multicorpus}" \
        --emo_args "${form_opt} ${recipe_opts} ${emo_args}" --out "${expdir}/pretrained/emo_qieemo_multicorpus4.zip"
fi
log "done: stages ${stage}-${stop_stage}"
