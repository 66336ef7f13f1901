#!/usr/bin/env bash
# The README's main command: make this Debian 12 machine ready (as root), bring the
# local lab up and show it healthy. Once the roles exist, it also applies the example
# requests to the lab (that step is added by the apply work, after `lab up`).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/setup.sh
.venv/bin/opdhost lab up
.venv/bin/opdhost lab status
