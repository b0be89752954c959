#!/usr/bin/env bash
# Usage: local/pack_asr.sh <asr exp dir>/<model>.pth <asr stats dir> <token dir> <out.zip>
# Packs a trained ASR backbone as the shipped ones in pretrained/ are packed: ESPnet's own
# `espnet2.bin.pack asr` with the config, the model given (run.sh: the average of the best epochs), the feature
# statistics and the BPE model, so ESPnet's unpack + Speech2Text and `--asr_exp` load it.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 <asr exp dir>/<model>.pth <asr stats dir> <token dir> <out.zip>" >&2; exit 1; }
model="$1"; exp=$(dirname "$1"); stats="$2"; tokens="$3"; out="$4"
for f in "${exp}/config.yaml" "${model}" "${stats}/train/feats_stats.npz" "${tokens}/bpe.model"; do
    [ -e "${f}" ] || { echo "$0: ${f} not found; train the backbone first (./run.sh --train_asr true)" >&2; exit 1; }
done
mkdir -p "$(dirname "${out}")"
python -m espnet2.bin.pack asr --asr_train_config "${exp}/config.yaml" --asr_model_file "${model}" \
    --option "${stats}/train/feats_stats.npz" --option "${tokens}/bpe.model" --outpath "${out}.tmp.zip"
mv "${out}.tmp.zip" "${out}"
echo "$0: ${out} ($(du -h "${out}" | cut -f1))"
