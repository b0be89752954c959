#!/usr/bin/env bash
# Usage: local/download.sh <url> <dest> <subpath>
# Downloads and unpacks an archive (zip / tar.gz) into <dest> unless <dest>/<subpath> already
# exists, then checks that <subpath> is there. Unpacking happens in a temporary dir that is
# renamed only on success, so an interrupted download is never mistaken for a corpus.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 <url> <dest> <subpath>" >&2; exit 1; }
url="$1"; dest="$2"; sub="$3"
[ -e "${dest}/${sub}" ] && exit 0
tmp="${dest}.tmp"
rm -rf "${tmp}"
mkdir -p "${tmp}"
archive="${tmp}/$(basename "${url}")"
echo "$0: downloading ${url}"
if ! { if command -v wget >/dev/null; then wget -q -O "${archive}" "${url}"; else curl -fsSL -o "${archive}" "${url}"; fi; }; then
    rm -rf "${tmp}"
    echo "$0: download of ${url} failed; put a local copy in place and point db.sh (or the environment) at it" >&2
    exit 1
fi
case "${archive}" in
    *.zip) python -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "${archive}" "${tmp}" ;;
    *) tar -xzf "${archive}" -C "${tmp}" ;;
esac
rm -f "${archive}"
[ -e "${tmp}/${sub}" ] || { echo "$0: ${url} unpacked without ${sub}; contents: $(ls "${tmp}")" >&2; exit 1; }
rm -rf "${dest}"
mv "${tmp}" "${dest}"
