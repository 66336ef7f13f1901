#!/usr/bin/env python3
"""Benchmark: time and size of a nightly backup run (roles/backup) on the lab.

Two measurements, both with the real node program (`opdhost-backup run --nightly`: backups,
archives, forget --prune, a seventh of the data verified) sending to the real target (ns2):

  examples   the nightly run on web1 and on db1 with the settings `opdhost apply` gave them
             (the example sites of the repository applied to the lab)
  synthetic  N sites (default 100) made for the purpose: on web1 N homes of F files of random
             bytes under /tmp/opdhost-bench-backup (never in /srv/www), on db1 N databases (half
             MariaDB, half PostgreSQL) of R rows each; a first (full) run, then a second after
             1 % of the files changed, each into its own repository on ns2, removed afterwards

and prints seconds and the repository's size on the target. Needs the lab applied with a
platform that has `opdhost_backup` (`opdhost apply --all`).

    .venv/bin/python scripts/bench/bench_backup.py [N] [--files F] [--rows R] [--no-examples]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

BENCH = "/tmp/opdhost-bench-backup"
CONFIG = "/etc/opdhost/backup/config.json"


def node(name: str, script: str, check: bool = True) -> str:
    """A shell snippet inside a lab node."""
    done = subprocess.run(
        ["podman", "exec", f"opdhost-lab-{name}", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if check and done.returncode != 0:
        raise SystemExit(f"{name}: {script[:80]}...: {done.stderr.strip()[-400:]}")
    return done.stdout


def repo_size(source: str, repo: str) -> int:
    """Bytes of a source node's repository on the target."""
    return int(node("ns2", f"du -sb /srv/opdhost-backup/{source}/{repo} | cut -f1").split()[0])


def timed_run(name: str, config: str = CONFIG) -> float:
    """Seconds of one nightly run on the node (its answer must say nothing failed)."""
    start = time.monotonic()
    out = node(name, f"OPDHOST_BACKUP_CONFIG={config} /usr/local/sbin/opdhost-backup run --nightly")
    seconds = time.monotonic() - start
    answer = json.loads(out.strip().splitlines()[-1])
    if answer.get("failed") or not answer.get("check", {}).get("ok"):
        raise SystemExit(f"{name}: the run failed: {out[-600:]}")
    return seconds


def examples() -> None:
    """The nightly run over the sites the lab has now."""
    for name in ("web1", "db1"):
        sites = len(json.loads(node(name, f"cat {CONFIG}"))["sites"])
        seconds = timed_run(name)
        size = repo_size(name, "repo")
        print(
            f"examples {name}: {sites} sites, nightly run {seconds:.1f} s, repository {size} bytes"
        )


def bench_config(name: str, sites: list[dict[str, str]]) -> str:
    """A copy of the node's settings backing up `sites` into the bench repository."""
    cfg = json.loads(node(name, f"cat {CONFIG}"))
    cfg.update(
        sites=sites,
        repository_path=cfg["repository_path"].rsplit("/", 1)[0] + "/bench-repo",
        state_dir=f"{BENCH}/state",
        keep_dir=f"{BENCH}/keep",
        archive_dirs=[],
    )
    path = f"{BENCH}/config.json"
    node(
        name,
        f"mkdir -p {BENCH} && chmod 700 {BENCH} && cat > {path} <<'EOF'\n{json.dumps(cfg)}\nEOF",
    )
    node(name, f"OPDHOST_BACKUP_CONFIG={path} /usr/local/sbin/opdhost-backup init")
    return path


def synthetic(count: int, files: int, rows: int) -> None:
    """N homes on web1 and N databases on db1: a full run, then one after 1 % changed."""
    names = [f"bench{i:03d}" for i in range(count)]
    node(
        "web1",
        f"for s in {' '.join(names)}; do mkdir -p {BENCH}/www/$s/public; "
        f"for f in $(seq {files}); do head -c 10240 /dev/urandom > {BENCH}/www/$s/public/f$f; "
        "done; done",
    )
    half = count // 2
    my, pg = names[:half], names[half:]
    table = "CREATE TABLE t (id INT PRIMARY KEY, body TEXT)"
    fill = f"INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, {rows}) g"
    node(
        "db1",
        f'for s in {" ".join(my)}; do mariadb -e "CREATE DATABASE $s" && mariadb $s -e '
        f'"{table}; INSERT INTO t SELECT seq, md5(seq) FROM seq_1_to_{rows}"; done; '
        f"for s in {' '.join(pg)}; do runuser -u postgres -- createdb $s && runuser -u postgres "
        f'-- psql -q -d $s -c "{table}; {fill}"; done',
    )
    try:
        web = bench_config(
            "web1", [{"site": s, "kind": "files", "path": f"{BENCH}/www/{s}"} for s in names]
        )
        db = bench_config(
            "db1",
            [{"site": s, "kind": "database", "engine": "mariadb", "name": s} for s in my]
            + [{"site": s, "kind": "database", "engine": "postgresql", "name": s} for s in pg],
        )
        data = int(node("web1", f"du -sb {BENCH}/www | cut -f1").split()[0])
        for round_ in ("first (full)", "second (1 % changed)"):
            if round_.startswith("second"):
                node("web1", f"for s in {' '.join(names)}; do head -c 10240 /dev/urandom "
                     f"> {BENCH}/www/$s/public/f1; done")  # fmt: skip
            web_s = timed_run("web1", web)
            db_s = timed_run("db1", db)
            print(
                f"synthetic {count} sites, {round_}: web1 files ({data} bytes) {web_s:.1f} s, "
                f"db1 databases ({rows} rows each) {db_s:.1f} s; repositories "
                f"{repo_size('web1', 'bench-repo')} + {repo_size('db1', 'bench-repo')} bytes"
            )
    finally:
        node("web1", f"rm -rf {BENCH}", check=False)
        node("db1", f"rm -rf {BENCH}; for s in {' '.join(my)}; do mariadb -e \"DROP DATABASE "
             f"IF EXISTS $s\"; done; for s in {' '.join(pg)}; do runuser -u postgres -- dropdb "
             "--if-exists $s; done", check=False)  # fmt: skip
        for name in ("web1", "db1"):
            node("ns2", f"rm -rf /srv/opdhost-backup/{name}/bench-repo", check=False)


def main() -> None:
    """Parse the arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=100)
    parser.add_argument("--files", type=int, default=20, help="files of 10 KiB per home")
    parser.add_argument("--rows", type=int, default=1000, help="rows per database")
    parser.add_argument("--no-examples", action="store_true")
    args = parser.parse_args()
    if not args.no_examples:
        examples()
    synthetic(args.count, args.files, args.rows)


if __name__ == "__main__":
    main()
