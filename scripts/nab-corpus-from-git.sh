#!/usr/bin/env bash
# Exports NAB's whole corpus (its `data/` and `labels/combined_windows.json`) from a git copy of NAB's repository
# into the layout `pnpm bench nab` and `pnpm backtest` read (`<out>/data/<category>/<name>.csv`, `<out>/windows.json`).
#   bash scripts/nab-corpus-from-git.sh <NAB's git directory (a clone's .git or a bare mirror)> <out dir> [<commit>]
# Then: NAB_DIR=<out dir> pnpm bench nab
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 <NAB git dir> <out dir> [<commit>]" >&2
  exit 2
fi
git_dir=$1
out=$2
rev=${3:-HEAD}
mkdir -p "$out"
git --git-dir="$git_dir" archive "$rev" data labels/combined_windows.json | tar -x -C "$out"
mv "$out/labels/combined_windows.json" "$out/windows.json"
rmdir "$out/labels"
echo "NAB corpus at $(git --git-dir="$git_dir" rev-parse "$rev"): $(find "$out/data" -name '*.csv' | wc -l) series in $out" >&2
