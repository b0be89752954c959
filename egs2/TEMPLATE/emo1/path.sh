# shellcheck shell=bash
# Environment of every stage: this repository's virtualenv (if built) and package first.
# Sourced from a recipe dir (egs2/<corpus>/emo1), where path.sh links to the TEMPLATE copy.
MAIN_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)"
export MAIN_ROOT
if [ -x "${MAIN_ROOT}/.venv/bin/python" ]; then
    export PATH="${MAIN_ROOT}/.venv/bin:${PATH}"
fi
export PYTHONPATH="${MAIN_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
export PYTHONUNBUFFERED=1
