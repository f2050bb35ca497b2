#!/usr/bin/env bash
# The browser of the pipeline page's test (test/integration/dashboard-browser.test.ts): Debian's
# chromium, driven by playwright-core (whose own browser download is not used). .ci/run calls
# this before `npm test`; on a developer machine run it once (as root), or set CHROMIUM_PATH.
set -euo pipefail
if [[ -x ${CHROMIUM_PATH:-/usr/bin/chromium} ]]; then
  echo "[browser] chromium present: ${CHROMIUM_PATH:-/usr/bin/chromium}"
  exit 0
fi
if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "[browser] ERROR: chromium is missing; install it (Debian/Ubuntu: sudo apt-get install chromium)" >&2
  exit 1
fi
echo "[browser] installing Debian's chromium"
[[ -f /var/lib/apt/lists/.cdc-updated ]] || { apt-get update -qq && touch /var/lib/apt/lists/.cdc-updated; }
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
echo "[browser] chromium $(chromium --version 2>/dev/null | awk '{print $2}') installed"
