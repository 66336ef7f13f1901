#!/usr/bin/env python3
"""Write a synthetic fleet of N requests (and a platform that holds them) into DIR.

.venv/bin/python scripts/bench/make_fleet.py 10000 /tmp/fleet
.venv/bin/opdhost validate --root /tmp/fleet --env bench --no-base
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synth import make_fleet


def main() -> None:
    """Parse N and DIR, write the fleet, say where."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("count", type=int, help="number of sites")
    parser.add_argument("directory", type=Path, help="target directory (created)")
    args = parser.parse_args()
    inventory = make_fleet(args.count, args.directory)
    print(f"{args.count} requests under {args.directory / 'requests'}; platform in {inventory}")


if __name__ == "__main__":
    main()
