# shellcheck shell=bash
# Corpus locations; each can be overridden by an environment variable of the same name.
# IEMOCAP: the IEMOCAP_full_release folder (Session1..Session5), licensed from USC SAIL.
# LIBRISPEECH: the LibriSpeech folder holding the subsets named in run.sh (openslr.org/12).
IEMOCAP="${IEMOCAP:-downloads/IEMOCAP_full_release}"
LIBRISPEECH="${LIBRISPEECH:-downloads/LibriSpeech}"
# SPEECHOCEAN762: speechocean762 (train/, test/, WAVE/; openslr.org/101), for CPU-scale ASR
# pretraining with `--local_asr_data_opts "--asr_corpus speechocean762"`.
SPEECHOCEAN762="${SPEECHOCEAN762:-downloads/speechocean762}"
