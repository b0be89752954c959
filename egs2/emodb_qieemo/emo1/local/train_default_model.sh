#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir
# The CLI's default emotion model: the chosen full config, fine-tuned from backbone 1 on all
# ten EmoDB speakers (four classes), with 15 % of each class (seed 0) held out for
# validation and checkpoint averaging, then packed with emo_pack. Run after stage 3.
# Usage: local/train_default_model.sh --asr_exp <zip|dir> --emo_config <yaml> --out <zip> [--expdir exp] [--emo_args "..."]
set -euo pipefail
expdir=exp
asr_exp=""
emo_config=""
emo_args=""   # extra emo_train options (run.sh passes the chosen CMA form)
out=""
seed=0
. ./path.sh
. utils/parse_options.sh
[ -n "${asr_exp}" ] && [ -n "${emo_config}" ] && [ -n "${out}" ] || { echo "$0: --asr_exp, --emo_config and --out are required" >&2; exit 1; }
data=dump/raw/all_speakers
exp="${expdir}/emo_default_all_speakers"
python - "${seed}" "${data}" <<'PY'
import sys
from pathlib import Path
from pyscripts.folds import split_valid
from pyscripts.kaldi_dir import read_table, subset_data_dir

seed, out = int(sys.argv[1]), Path(sys.argv[2])
corpus = Path("dump/raw/emodb")
emotion = read_table(corpus / "emotion")
valid = set(split_valid(emotion, list(emotion), 0.15, seed))
subset_data_dir(corpus, out / "train", [k for k in emotion if k not in valid])
subset_data_dir(corpus, out / "valid", sorted(valid))
print(f"{out}: train {len(emotion) - len(valid)}, valid {len(valid)}")
PY
data_opts=()
for split in train valid; do
    data_opts+=("--${split}_data_path_and_name_and_type" "${data}/${split}/wav.scp,speech,sound"
                "--${split}_data_path_and_name_and_type" "${data}/${split}/emotion,emotion,text")
done
rm -rf "${exp}"
python -m espnet_qieemo.bin.emo_train --collect_stats true --ngpu 0 --config "${emo_config}" \
    --label_list data/emodb/labels --asr_init "${asr_exp}" "${data_opts[@]}" \
    --train_shape_file "${data}/train/wav.scp" --valid_shape_file "${data}/valid/wav.scp" --output_dir "${exp}/stats"
# shellcheck disable=SC2086  # ${emo_args}: an options string, split into arguments on purpose
python -m espnet_qieemo.bin.emo_train --ngpu 0 --config "${emo_config}" --seed "${seed}" \
    --label_list data/emodb/labels --asr_init "${asr_exp}" "${data_opts[@]}" \
    --train_shape_file "${exp}/stats/train/speech_shape" --valid_shape_file "${exp}/stats/valid/speech_shape" \
    --fold_length 80000 --output_dir "${exp}/train" ${emo_args} >"${exp}/train.log" 2>&1
mkdir -p "$(dirname "${out}")"
python -m espnet_qieemo.bin.emo_pack --train_config "$(readlink -f "${exp}/train/config.yaml")" \
    --model_file "$(readlink -f "${exp}/train/valid.ua.ave.pth")" --outpath "$(readlink -f "$(dirname "${out}")")/$(basename "${out}")"
echo "$0: ${out}"
