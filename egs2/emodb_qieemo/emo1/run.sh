#!/usr/bin/env bash
# Qieemo on public corpora, CPU only (`make demo`): ASR pretraining on FSDD + mini AN4, emotion
# fine-tuning on EmoDB over five speaker-pair folds, the paper's ablations, a classical
# baseline (eGeMAPS + linear SVM) and the per-block linear probe, in one table (RESULTS.md).
# The stages themselves are emo.sh's (shared with the IEMOCAP recipe); this script only runs
# it once per system. Seeds: every config's `seed: 0`, validation split seed 0, SVM / probe 0.
# Examples:
#   ./run.sh                        # the whole demo (about 45 min on 2 CPU cores)
#   ./run.sh --all_classes true     # seven EmoDB emotions instead of four (RESULTS_7class.md)
#   ./run.sh --parallel 1           # one training at a time
#   EMODB=/data/emodb/wav FSDD=/data/fsdd/recordings AN4=/data/an4 ./run.sh
set -euo pipefail
all_classes=false   # true: all seven EmoDB emotions
parallel=2          # systems trained at the same time (one CPU thread each)
nj=2
folds="1 2 3 4 5"
seed=0
nbpe=30             # FSDD + AN4 have a few dozen words
# Fewer epochs than the shared small configs: sized so that the demo fits 45 minutes on 2 cores.
asr_args="--max_epoch 4"
emo_args="--max_epoch 10"
help_message="Usage: $0 [--all_classes true] [--parallel N] [--folds \"1 2\"]; see the header of $0."
. ./path.sh
. utils/parse_options.sh

if [ "${all_classes}" = true ]; then
    expdir=exp_7class; results=RESULTS_7class.md; images=images_7class
else
    expdir=exp; results=RESULTS.md; images=images
fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1  # threads fight on a small CPU; run systems side by side
asr1=conf/train_asr_efficient_conformer_small.yaml
asr2=conf/train_asr_conformer_small.yaml
full=conf/train_emo_qieemo_small.yaml
common=(--emo_corpus emodb --expdir "${expdir}" --nj "${nj}" --seed "${seed}" --folds "${folds}" --min_duration 0.2
        --nbpe "${nbpe}" --asr_args "${asr_args}" --emo_args "${emo_args}"
        --local_emo_data_opts "--all_classes ${all_classes}")

# system name | emotion config | ASR backbone config | initialise from the ASR model
systems=(
    "Qieemo (full)|${full}|${asr1}|true"
    "without CMA|conf/train_emo_qieemo_no_cma_small.yaml|${asr1}|true"
    "without MMF (PPG only)|conf/train_emo_qieemo_no_mmf_small.yaml|${asr1}|true"
    "without ASR pretraining (scratch)|conf/train_emo_qieemo_scratch_small.yaml|${asr1}|false"
    "backbone 2 (ESPnet conformer)|conf/train_emo_qieemo_conformer_small.yaml|${asr2}|true"
)

# Data, audio, tokens, ASR stats and both ASR backbones; then the folds' shape statistics.
./emo.sh "${common[@]}" --stage 1 --stop_stage 7 --asr_config "${asr1}" --emo_config "${full}"
./emo.sh "${common[@]}" --stage 6 --stop_stage 7 --asr_config "${asr2}" --emo_config "${full}"
./emo.sh "${common[@]}" --stage 8 --stop_stage 8 --asr_config "${asr1}" --emo_config "${full}"

# Stages 9-11 (12 for the full model) per system, ${parallel} systems at a time.
mkdir -p "${expdir}/logs"
run_system() {
    local name="$1" emo="$2" asr="$3" init="$4" last=11
    [ "${emo}" = "${full}" ] && last=12
    ./emo.sh "${common[@]}" --stage 9 --stop_stage "${last}" --asr_config "${asr}" --emo_config "${emo}" \
        --use_asr_init "${init}" >"${expdir}/logs/$(basename "${emo}" .yaml).log" 2>&1 \
        || { echo "$0: system '${name}' failed; see ${expdir}/logs/$(basename "${emo}" .yaml).log" >&2; return 1; }
}
pids=()
for entry in "${systems[@]}"; do
    IFS='|' read -r name emo asr init <<<"${entry}"
    echo "$(date '+%H:%M:%S') training: ${name} (${emo})"
    run_system "${name}" "${emo}" "${asr}" "${init}" &
    pids+=("$!")
    while [ "$(jobs -rp | wc -l)" -ge "${parallel}" ]; do wait -n || true; done
done
failed=0
for pid in "${pids[@]}"; do wait "${pid}" || failed=1; done
[ "${failed}" = 0 ] || { echo "$0: some systems failed (see above)" >&2; exit 1; }

# Classical baseline and per-block probe on the same formatted folds.
svm_opts=(); probe_opts=(); result_opts=()
for k in ${folds}; do
    svm_opts+=(--fold "dump/raw/fold${k}" "${expdir}/egemaps_svm/fold${k}/test")
    probe_opts+=(--fold "dump/raw/fold${k}")
done
python -m espnet_qieemo.bin.egemaps_svm --labels data/emodb/labels --seed "${seed}" "${svm_opts[@]}"
asr1_exp="${expdir}/asr_$(basename "${asr1}" .yaml)"
python -m espnet_qieemo.bin.layer_probe --asr_config "${asr1_exp}/config.yaml" \
    --asr_model_file "${asr1_exp}/valid.acc.best.pth" --labels data/emodb/labels --seed "${seed}" \
    "${probe_opts[@]}" --out_dir "${expdir}/layer_probe" \
    --title "EmoDB: probe per block of the FSDD+AN4 efficient conformer"

# One table from the inference outputs of every system.
for entry in "${systems[@]}"; do
    IFS='|' read -r name emo _ _ <<<"${entry}"
    result_opts+=(--system "${name}" "${expdir}/emo_$(basename "${emo}" .yaml)/fold{fold}/inference_valid.ua.best/test")
done
result_opts+=(--system "eGeMAPS + linear SVM" "${expdir}/egemaps_svm/fold{fold}/test")
readme=()
[ "${all_classes}" = true ] || readme=(--readme "${MAIN_ROOT}/README.md")
python -m espnet_qieemo.bin.demo_results --fold_dir "dump/raw/fold{fold}" --folds ${folds} "${result_opts[@]}" \
    --probe "${expdir}/layer_probe/probe.json" --images_dir "${images}" \
    --out "${results}" "${readme[@]}"
echo "$(date '+%H:%M:%S') done: ${results}"
