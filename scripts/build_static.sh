#!/usr/bin/env bash
# Browser libraries for the platform, without a bundler: installs the npm packages pinned by
# package-lock.json and copies their prebuilt files into lms/static/dist/ (git-ignored, like
# node_modules/). Pages load them from there with url_for('static', filename='dist/...').
#
#   bash scripts/build_static.sh        (make static; `make run` and `make test` call it)
#
# Idempotent and fast: a stamp file records the hash of package.json + package-lock.json, and
# nothing is done while it matches and every copied file is present.
set -euo pipefail
umask 022

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO_ROOT"
DIST=lms/static/dist
STAMP="$DIST/.build-stamp"
# source in node_modules -> name in lms/static/dist/
FILES=(
  "node_modules/hls.js/dist/hls.min.js:hls.min.js"
  "node_modules/echarts/dist/echarts.min.js:echarts.min.js"
)

fingerprint() {
  cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1
}

up_to_date() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(fingerprint)" ]] || return 1
  local pair
  for pair in "${FILES[@]}"; do [[ -s "$DIST/${pair#*:}" ]] || return 1; done
}

up_to_date && exit 0

command -v npm >/dev/null || { echo "build_static: npm is missing (apt-get install npm)" >&2; exit 1; }

mkdir -p "$DIST"
# Two builds at once (make run + make test in one checkout) must not interleave npm runs.
exec 9>"$DIST/.build-lock"
command -v flock >/dev/null && flock 9
up_to_date && exit 0

NPM_FLAGS=(--no-audit --no-fund --loglevel=error)
if [[ -f package-lock.json ]]; then
  npm ci "${NPM_FLAGS[@]}" >/dev/null
else
  npm install "${NPM_FLAGS[@]}" >/dev/null
fi

for pair in "${FILES[@]}"; do
  src="${pair%%:*}" name="${pair#*:}"
  [[ -s "$src" ]] || { echo "build_static: $src not found after npm install" >&2; exit 1; }
  cp "$src" "$DIST/.$name.tmp" && mv -f "$DIST/.$name.tmp" "$DIST/$name"
done
fingerprint > "$STAMP"
echo "build_static: copied ${#FILES[@]} files into $DIST/"
