#!/usr/bin/env bash
# Source after setting defaults: turns "--name value" / "--name=value" into name=value for
# variables the caller already defined, and stops at the first non-option argument.
# An undefined name is an error (a mistyped option must not be ignored silently).
while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h)
            echo "${help_message:-see the header of $0}"
            exit 0 ;;
        --*=*)
            _name="${1%%=*}"; _value="${1#*=}"; shift ;;
        --*)
            if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 1; fi
            _name="$1"; _value="$2"; shift 2 ;;
        *)
            break ;;
    esac
    _name="${_name#--}"
    _name="${_name//-/_}"
    if ! declare -p "${_name}" >/dev/null 2>&1; then
        echo "$0: unknown option --${_name} (see the header of $0 for the options)" >&2
        exit 1
    fi
    printf -v "${_name}" '%s' "${_value}"
done
unset _name _value
