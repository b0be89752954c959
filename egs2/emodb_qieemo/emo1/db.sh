# shellcheck shell=bash
# Corpus locations; each can be overridden by an environment variable of the same name.
# QIEEMO_DATA: a folder holding local copies (emodb/wav, speechocean762,
# librispeech_mini/LibriSpeech, fsdd/recordings, mini_an4/an4); the project's default is ../shared/data beside the repository, as for the
# tests. Where a corpus folder is missing, local/*_data.sh downloads it from its public location into downloads/.
QIEEMO_DATA="${QIEEMO_DATA:-$(cd ../../.. && pwd)/../shared/data}"
EMODB="${EMODB:-${QIEEMO_DATA}/emodb/wav}"          # EmoDB *.wav (emodb.bilderbar.info)
SPEECHOCEAN762="${SPEECHOCEAN762:-${QIEEMO_DATA}/speechocean762}"  # OpenSLR 101 (train/, test/, WAVE/)
LIBRISPEECH="${LIBRISPEECH:-${QIEEMO_DATA}/librispeech_mini/LibriSpeech}"  # holds train-clean-5/ (OpenSLR 31)
FSDD="${FSDD:-${QIEEMO_DATA}/fsdd/recordings}"       # Free Spoken Digit Dataset recordings
AN4="${AN4:-${QIEEMO_DATA}/mini_an4/an4}"            # ESPnet's mini AN4 (etc/, wav/)
# shellcheck disable=SC2034  # read by `python -m local.emo_corpora` callers (no download: fetch them yourself)
{
    RAVDESS="${RAVDESS:-${QIEEMO_DATA}/ravdess}"     # RAVDESS speech, Actor_NN/*.wav|ogg (CC BY-NC-SA 4.0)
    TESS="${TESS:-${QIEEMO_DATA}/tess}"              # TESS, <SPK>_<emotion>/*.wav|ogg (CC BY-NC-ND 4.0)
}
# shellcheck disable=SC2034  # the download sources: read by local/*_data.sh, which source this file
{
    EMODB_URL="http://emodb.bilderbar.info/download/download.zip"
    FSDD_URL="https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz"
    AN4_URL="https://github.com/espnet/espnet/raw/master/egs2/mini_an4/asr1/downloads.tar.gz"
    SPEECHOCEAN762_URL="https://www.openslr.org/resources/101/speechocean762.tar.gz"
    LIBRISPEECH_URL="https://www.openslr.org/resources/31/train-clean-5.tar.gz"
}
