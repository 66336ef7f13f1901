#!/usr/bin/env bash
# The README's main command, as root on Debian 12: make the machine ready, bring the local
# lab up, converge it with the example requests (`opdhost apply --all`: every site, so a
# recreated lab is filled again), then show the lab healthy. Records of the apply go to
# records/ (or $OPDHOST_RECORDS_DIR).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/setup.sh
.venv/bin/opdhost lab up
.venv/bin/opdhost apply --all
.venv/bin/opdhost lab status
