#!/usr/bin/env bash
# `npm start`. On a fresh clone nothing is installed yet (not even tsx, which runs the rest):
# ./setup.sh installs the dependencies and brings the stack up first. Then scripts/start.ts
# checks the stack (running ./setup.sh again only if something is down), runs every consumer and
# the pipeline page. `exec` keeps one process, so Ctrl-C and SIGTERM reach it directly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -x node_modules/.bin/tsx ]]; then
  echo "npm start: dependencies not installed yet: running ./setup.sh first"
  if [[ -f .stack/mode ]]; then ./setup.sh "--$(cat .stack/mode)"; else ./setup.sh; fi
fi
exec node --import tsx scripts/start.ts "$@"
