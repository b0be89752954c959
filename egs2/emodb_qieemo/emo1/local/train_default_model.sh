#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir
# The CLI's default emotion model (run.sh stage 7): the multi-corpus config fine-tuned from
# backbone 1 on every corpus of stage 6's leave-one-corpus-out prep (data_loco/all: train and a
# speaker-disjoint, corpus- and class-balanced valid), with the recipe stage 6 chose; a
# temperature is fitted on that valid part (emo_calibrate) and packed with the model.
# Usage: local/train_default_model.sh --asr_exp <zip|dir> --emo_config <yaml> --out <zip>
#            [--expdir exp/loco] [--emo_args "..."]
set -euo pipefail
expdir=exp/loco
asr_exp=""
emo_config=""
emo_args=""   # the chosen recipe's emo_train options
out=""
seed=0
. ./path.sh
. utils/parse_options.sh
[ -n "${asr_exp}" ] && [ -n "${emo_config}" ] && [ -n "${out}" ] || { echo "$0: --asr_exp, --emo_config and --out are required" >&2; exit 1; }
[ -s dump/loco/corpora/wav.scp ] && [ -d data_loco/all ] || { echo "$0: dump/loco/corpora or data_loco/all missing; run run.sh stage 6 (--loco true) first" >&2; exit 1; }
data=dump/loco/all
labels=data_loco/corpora/labels
exp="${expdir}/emo_default"
python - <<'PY'
from pathlib import Path
from pyscripts.kaldi_dir import read_table, subset_data_dir

corpus, src, dst = Path("dump/loco/corpora"), Path("data_loco/all"), Path("dump/loco/all")
formatted = set(read_table(corpus / "wav.scp"))  # utterances that audio formatting kept
for part in ("train", "valid"):
    keys = [k for k in read_table(src / part / "emotion") if k in formatted]
    subset_data_dir(corpus, dst / part, keys)
    print(f"{dst / part}: {len(keys)} utterances")
PY
data_opts=()
for split in train valid; do
    data_opts+=("--${split}_data_path_and_name_and_type" "${data}/${split}/wav.scp,speech,sound"
                "--${split}_data_path_and_name_and_type" "${data}/${split}/emotion,emotion,text")
done
rm -rf "${exp}"
python -m espnet_qieemo.bin.emo_train --collect_stats true --ngpu 0 --config "${emo_config}" \
    --label_list "${labels}" --asr_init "${asr_exp}" "${data_opts[@]}" \
    --train_shape_file "${data}/train/wav.scp" --valid_shape_file "${data}/valid/wav.scp" --output_dir "${exp}/stats"
# shellcheck disable=SC2086  # ${emo_args}: an options string, split into arguments on purpose
python -m espnet_qieemo.bin.emo_train --ngpu 0 --config "${emo_config}" --seed "${seed}" \
    --label_list "${labels}" --asr_init "${asr_exp}" "${data_opts[@]}" \
    --train_shape_file "${exp}/stats/train/speech_shape" --valid_shape_file "${exp}/stats/valid/speech_shape" \
    --fold_length 80000 --output_dir "${exp}/train" ${emo_args} >"${exp}/train.log" 2>&1
mkdir -p "$(dirname "${out}")"
python -m espnet_qieemo.bin.emo_calibrate --train_config "$(readlink -f "${exp}/train/config.yaml")" \
    --model_file "$(readlink -f "${exp}/train/valid.ua.ave.pth")" --data_dir "${data}/valid" \
    --output_file "${exp}/calibration.yaml" --outpath "$(readlink -f "$(dirname "${out}")")/$(basename "${out}")" \
    | tee "${exp}/calibration.md"
echo "$0: ${out}"
