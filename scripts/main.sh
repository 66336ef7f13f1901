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

zone=kab-contoh.go.id
cat <<EOF

The example requests are live on the lab. Try, from this machine:
  curl -sk --resolve disdik.$zone:443:10.203.0.100 https://disdik.$zone/
  curl -s  --resolve renbang.$zone:80:10.203.0.103 http://renbang.$zone/
  curl -sk --resolve pajak.$zone:443:10.203.0.200 https://pajak.$zone/     # on web2, database on db2
EOF
printf '  DNS answer for disdik.%s: ns1 %s, ns2 %s\n' "$zone" \
  "$(dig +short @10.203.0.31 "disdik.$zone" A)" "$(dig +short @10.203.0.32 "disdik.$zone" A)"
