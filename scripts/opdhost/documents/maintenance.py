"""The maintenance log (SOP record 4): who did what to which hosting, and when.

Entries added by hand are one JSON file each under `records/<env>/maintenance/` (one file
per entry, so two branches adding entries never conflict in git; written atomically). Every
apply run record counts as entries too, one per site it touched, read where apply leaves them.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from opdhost.apply.records import _write_json, new_run_id, now_iso
from opdhost.documents.base import DocumentError, parse_stamp
from opdhost.documents.inputs import Sources
from opdhost.fleet.yamlload import forbidden_character

MAX_NOTE = 500
# What key material and password hashes look like: a note must never carry one.
_SECRET = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\$(?:2[aby]|5|6|argon2(?:id|i|d)?|y)\$|"
    r"SCRAM-SHA-256\$|\*[0-9A-F]{40}\b|\bmd5[0-9a-f]{32}\b|"
    r"(?i:password|passwd|kata ?sandi|secret|token)\s*[:=]\s*\S"
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the log."""

    when: str
    site: str
    who: str
    source: str
    what: str


def _directory(src: Sources) -> Path:
    return src.records.base / "maintenance"


def _default_who(root: Path) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "config", "user.name"],
            capture_output=True, text=True, check=False, timeout=10,
        )  # fmt: skip
        name = done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        name = ""
    return name or os.environ.get("USER") or getpass.getuser()


def _check_text(value: str, option: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise DocumentError(f"{option}: must not be empty")
    if len(text) > limit:
        raise DocumentError(f"{option}: longer than {limit} characters")
    bad = forbidden_character(text)
    if bad:
        raise DocumentError(f"{option}: contains {bad} (one line of printable text)")
    return text


def add_entry(src: Sources, site: str, note: str, who: str | None) -> Path:
    """Record one maintenance of `site`; the site must have a request file."""
    src.request(site)
    text = _check_text(note, "--note", MAX_NOTE)
    if _SECRET.search(text):
        raise DocumentError(
            "--note: looks like it contains a password, key or hash; the log is kept in the "
            "repository and must never hold a secret"
        )
    person = _check_text(who if who is not None else _default_who(src.root), "--who", 80)
    entry = {"site": site, "when": now_iso(), "who": person, "note": text}
    path = _directory(src) / f"{new_run_id()}-{site}.json"
    n = 1
    while path.exists():
        n += 1
        path = _directory(src) / f"{new_run_id()}-{site}-{n}.json"
    return _write_json(path, entry)


def entries(src: Sources, site: str | None = None) -> list[Entry]:
    """The whole log (or `site`'s), oldest first: added entries and apply runs."""
    tz = src.office.timezone
    found: list[tuple[float, Entry]] = []
    for path in sorted(_directory(src).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            stamp = parse_stamp(str(data["when"]))
            entry_site, who, note = str(data["site"]), str(data["who"]), str(data["note"])
        except (OSError, ValueError, KeyError, TypeError):
            raise DocumentError(
                f"{path}: not a maintenance entry (site, when, who, note)"
            ) from None
        if stamp is None:
            raise DocumentError(f"{path}: 'when' is not a time stamp")
        found.append(
            (stamp.timestamp(),
             Entry(stamp.astimezone(tz).strftime("%Y-%m-%d %H:%M"), entry_site, who, "log", note))
        )  # fmt: skip
    for event in src.runs.events:
        what = f"apply {event.mode}: {event.action} {event.result}"
        if event.merge_request:
            what += f" (merge request {event.merge_request})"
        found.append(
            (event.when.timestamp(),
             Entry(event.when.astimezone(tz).strftime("%Y-%m-%d %H:%M"), event.site,
                   event.who or "-", f"run {event.run_id}", what))
        )  # fmt: skip
    found.sort(key=lambda pair: pair[0])
    result = [entry for _, entry in found if site is None or entry.site == site]
    if site is not None and not result and site not in src.fleet.by_site():
        src.request(site)  # raises: no such site
    return result
