#!/usr/bin/env bash
# Qieemo on IEMOCAP: ASR pretraining on LibriSpeech (efficient conformer), then emotion
# fine-tuning over five session folds (neu / hap+exc / ang / sad). Stages: see emo.sh.
# Examples:
#   ./run.sh                                   # stages 1-12
#   ./run.sh --stage 8 --folds "1 3"           # emotion part only, two folds
#   ./run.sh --asr_exp /path/to/asr_exp_or.zip # reuse an ASR model, skip stages 2 and 4-7
#   ./run.sh --emo_config conf/train_emo_qieemo_no_cma.yaml   # an ablation, by YAML
#   IEMOCAP=/data/IEMOCAP_full_release LIBRISPEECH=/data/LibriSpeech ./run.sh
set -euo pipefail

./emo.sh \
    --emo_corpus iemocap \
    --asr_config conf/train_asr_efficient_conformer.yaml \
    --emo_config conf/train_emo_qieemo.yaml \
    --nbpe 5000 \
    --asr_test_sets "asr_test_clean asr_test_other" \
    --local_asr_data_opts "--train_subsets train-clean-100,train-clean-360,train-other-500 --valid_subsets dev-clean,dev-other --test_subsets test-clean,test-other" \
    "$@"
