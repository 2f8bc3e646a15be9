#!/usr/bin/env bash
# Installs what the portal's browser tests need besides Python packages, once; quiet when done:
#   - tests/tools/node_modules from the npm registry (npm ci: oidc-provider, axe-core, as locked)
#   - Debian's chromium (and chromium-driver), which Playwright drives; never a downloaded
#     browser (`playwright install` is not used).
#   - Debian's prometheus (prometheus and promtool) for the alert rules' tests; the package's
#     own service is not used (the tests start their own, on a free port).
#
# usage: deploy/local/test-tools.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS=$ROOT/tests/tools
STAMP=$TOOLS/node_modules/.installed

log() { printf '[test-tools] %s\n' "$*"; }
die() { printf '[test-tools] error: %s\n' "$*" >&2; exit 1; }
source "$ROOT/deploy/local/packages.sh"

need_packages chromium chromium-driver
NO_RECOMMENDS=1 need_packages prometheus

# Node.js is not taken from Debian: bookworm's nodejs is 18, the tools are pinned and tested on 20+.
command -v node >/dev/null || die "Node.js 20+ is needed for the test OpenID provider (node is not on PATH)"
command -v npm >/dev/null || die "npm is needed to install tests/tools (npm is not on PATH)"
major=$(node -p 'process.versions.node.split(".")[0]')
((major >= 20)) || die "Node.js 20+ is needed for the test OpenID provider; found $(node --version)"

# The stamp is newer than the lock file exactly when node_modules holds what the lock says.
if [[ ! -f $STAMP || $TOOLS/package-lock.json -nt $STAMP || $TOOLS/package.json -nt $STAMP ]]; then
  log "installing tests/tools packages from the npm registry (npm ci)"
  (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$STAMP"
fi
