#!/usr/bin/env bash
# Installs SST v4's platform into .sst/platform WITHOUT the internet: the providers sst.config.ts lists (`aws`,
# `docker-build`: their npm packages and the `aws`/`dockerbuild` globals) and the `$config`/`sst.aws.*` globals
# (.sst/platform/config.d.ts) that `tsc -p infra/tsconfig.json` and the infra wiring tests need. Every `sst` command
# first downloads Pulumi and bun, which the two SST_* variables below skip; the providers are looked up in, and the
# platform's npm dependencies come from, the npm registry.
#
# Idempotent (does nothing once .sst/platform/config.d.ts exists and is newer than sst.config.ts: sst writes it last,
# after the dependencies; a changed sst.config.ts may list other providers, which `sst install` adds in a second or
# two once the platform is there) and safe to run concurrently (test workers may all ask for it at once: one
# installs, the others wait).
# Usage: scripts/sst-install.sh [--force]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
types=.sst/platform/config.d.ts

# Installed, and for the providers sst.config.ts lists now.
installed() { [[ -f "$types" && ! sst.config.ts -nt "$types" ]]; }

if [[ "${1:-}" != "--force" ]] && installed; then
  echo "sst-install: $types is up to date, skipping (pass --force to reinstall)"
  exit 0
fi

mkdir -p .sst
if command -v flock >/dev/null 2>&1; then
  exec 9>.sst/install.lock
  flock 9
else
  # No flock (macOS): a lock directory, waited on for up to 10 minutes.
  for _ in $(seq 600); do
    mkdir .sst/install.lock.d 2>/dev/null && break
    sleep 1
  done
  trap 'rmdir .sst/install.lock.d 2>/dev/null || true' EXIT
fi

# Another run may have installed it while this one waited.
if [[ "${1:-}" != "--force" ]] && installed; then
  echo "sst-install: installed by a concurrent run"
  exit 0
fi

started=$(date +%s)
# Not `pnpm exec sst`: pnpm puts the RELATIVE ./node_modules/.bin on PATH, and sst (a Go binary) refuses to run the
# `node` it finds there ("cannot run executable found relative to current directory"). An absolute entry works.
export PATH="$root/node_modules/.bin:$PATH"
# The stage only names local state: install creates nothing in any AWS account.
SST_TELEMETRY_DISABLED=1 SST_SKIP_DEPENDENCY_CHECK=true SST_NO_BUN=true \
  "$root/node_modules/.bin/sst" install --stage "${SST_STAGE:-dev}"
if [[ ! -f "$types" ]]; then
  echo "sst-install: sst install finished but $types is missing" >&2
  exit 1
fi
echo "sst-install: platform installed in $(($(date +%s) - started))s"
