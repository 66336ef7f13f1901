#!/usr/bin/python3
"""Put the web node's node-wide files in place, each checked by its service first.

The PHP-FPM pools, the SFTP jail and the virtual hosts (and the list of site IPs re-added at
boot) are rendered from every site of the node, so every apply that adds a site rewrites
them. Done with a template task, a checker command and a cleanup task per file, plus the
"which service has not loaded its file" probe, that was twelve remote calls on the critical
path of one new hosting (issue 16, docs/benchmarks.md); this module does the same in one:

0. with addresses, adds the touched sites' IPs to the site interface and names the stale ones
   (module_utils/opdhost_site_addresses.py; a call of its own before);
1. asks `opdhost-loaded pending` which services run another configuration than the one on
   disk (a run interrupted between writing a file and reloading its service);
2. for each file whose rendered content differs: keeps the current file, writes the new one
   atomically (root:root 0644); then runs the services' checkers at the same time. When one
   refuses, that file and every later one written are put back (or removed when there was
   none), as if they had been checked one by one in order, and it stops with the checker's
   output: nothing is reloaded, the running services keep what they had;
3. returns the services to reload: those whose file changed, and the pending ones. The role
   notifies its handlers with them (check, reload, record), once per service per run;
4. or, with reload (a run on a node whose setup is stamped), runs `opdhost-loaded
   reload-pending` itself once every file is in place: each service whose configuration on
   disk is not the one it loaded (this run's files, the site certificates, an interrupted
   run's) is checked, reloaded and recorded in this same call, the handler's work without a
   remote call of its own (issue 16). A refusal fails the call with the checker's output.

In check mode it reports the changes (with the diffs under --diff) and writes nothing.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.opdhost_site_addresses import (  # type: ignore[import-not-found]  # role module_utils
    OPTIONS as ADDRESS_OPTIONS,
)
from ansible.module_utils.opdhost_site_addresses import (
    AddressError,
    sync,
)

DOCUMENTATION = r"""
module: apache_vhost_config
short_description: Write the node-wide configuration files, each accepted by its checker first
options:
  files:
    description: >-
      In order, each with dest (path), content (the rendered file), and for a service's file
      check (the checker command line, run after the file is written) and service (apache2,
      php-fpm or sshd); a file without them (the site IP list) is only written.
    type: list
    elements: dict
    required: true
  loaded_tool:
    description: The opdhost-loaded script (pending / reload-pending).
    type: path
    required: true
  addresses:
    description:
      - The site addresses, first (module_utils/opdhost_site_addresses.py) - C(interface),
        C(prefix), C(label) (<interface>:opd), C(add) (the touched sites' addresses, added when
        missing, in one C(ip -batch)) and C(served) (every served site's address; a labelled
        address not in it is returned in I(stale), never removed here).
    type: dict
  reload:
    description:
      - Once every file is in place, reload (through C(loaded_tool reload-pending)) each service
        whose configuration is not the loaded one, instead of leaving it to the handlers.
        Never in check mode.
    type: bool
    default: false
"""

RETURN = r"""
reload:
  description: Services to reload, in the order apache2, php-fpm, sshd were given by files.
  type: list
changed_files:
  description: The files written (or in check mode, that would be).
  type: list
reloaded:
  description: With reload, the services reloaded by this call, in the order they were.
  type: list
added:
  description: With addresses, the addresses added (or in check mode, that would be).
  type: list
stale:
  description: With addresses, the labelled addresses no served site uses.
  type: list
"""

SERVICES = ("apache2", "php-fpm", "sshd")


class RefusedError(Exception):
    """A checker refused a new file; it (and any later file written) has been put back."""

    def __init__(self, message: str, kept: list[tuple[dict[str, Any], bytes | None]]):
        super().__init__(message)
        self.kept = kept  # the files written before it, accepted and left in place


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _write(path: str, data: bytes) -> None:
    """root:root 0644, replaced in one rename."""
    fd, temp = tempfile.mkstemp(prefix=".opdhost-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchown(fh.fileno(), 0, 0)
            os.fchmod(fh.fileno(), 0o644)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.lexists(temp):
            os.unlink(temp)
        raise


def _in_place(entry: dict[str, Any], current: bytes | None) -> bool:
    """The file holds the entry's content already, root:root 0644 (nothing to write)."""
    if current != entry["content"].encode():
        return False
    st = os.lstat(entry["dest"])
    return (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o644)


def pending(tool: str) -> list[str]:
    """Services whose loaded configuration is not the one on disk (an interrupted run)."""
    if not os.path.exists(tool):
        return []  # a dry run before the node setup: nothing was ever loaded by the role
    proc = subprocess.run([tool, "pending"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} pending: {proc.stderr.strip()}")
    return [s for s in proc.stdout.split() if s in SERVICES]


def reload_pending(tool: str, checked: list[str]) -> list[str]:
    """Check, reload and record every pending service; the services reloaded, in order.

    `checked`: the services whose file this call has just written and had checked; they are
    reloaded without a second check of the same file (PHP-FPM's parses every pool).
    """
    proc = subprocess.run(
        [tool, "reload-pending", *checked], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{tool} reload-pending refused or failed; the services keep their previous "
            f"configuration: {proc.stderr.strip()} {proc.stdout.strip()}"
        )
    return [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("reloaded ")]


def put_all(entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bytes | None]]:
    """Write each file whose content (or owner and mode) differs, check them, keep them only
    as far as they are accepted; the (entry, previous content) of each file written.

    The checks of the written files run at the same time (each service's checker reads only
    its own configuration: PHP-FPM's and Apache's each parse every site, 0.15 s at 500 sites).
    The outcome is the one of checking them one by one in order: the files before the first
    refused one stay; that one and every later one written are put back as they were (or
    removed when there was none), and RefusedError names the first refusal.
    """
    written: list[tuple[dict[str, Any], bytes | None]] = []
    try:
        for entry in entries:
            old = _read(entry["dest"])
            if _in_place(entry, old):
                continue
            _write(entry["dest"], entry["content"].encode())
            written.append((entry, old))
    except OSError:
        _put_back(written)  # none of them was checked yet
        raise
    checked = [(entry, old) for entry, old in written if entry.get("check")]
    with ThreadPoolExecutor(max_workers=max(1, len(checked))) as pool:
        runs = list(pool.map(_check, [entry["check"] for entry, _old in checked]))
    outcomes = zip(checked, runs, strict=True)
    refused = next(((entry, proc) for (entry, _old), proc in outcomes if proc.returncode), None)
    if refused is None:
        return written
    entry, proc = refused
    first = next(i for i, (e, _old) in enumerate(written) if e is entry)
    _put_back(written[first:])
    raise RefusedError(
        f"{entry['dest']} was refused by '{entry['check']}' and has been restored; nothing was "
        f"reloaded. Checker output: {proc.stderr.strip()} {proc.stdout.strip()}",
        written[:first],
    )


def _put_back(written: list[tuple[dict[str, Any], bytes | None]]) -> None:
    """Each file as it was before this call (removed when there was none), last first."""
    for entry, old in reversed(written):
        if old is None:
            os.unlink(entry["dest"])
        else:
            _write(entry["dest"], old)


def _check(command: str) -> subprocess.CompletedProcess[str]:
    """The checker's outcome; a checker that cannot be run is a refusal (exit 127)."""
    argv = shlex.split(command)
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        return subprocess.CompletedProcess(argv, 127, "", f"cannot run {argv[0]}: {exc}")


def _diff(dest: str, before: bytes | None, after: str) -> dict[str, str]:
    return {
        "before_header": dest,
        "after_header": dest,
        "before": (before or b"").decode("utf-8", "replace"),
        "after": after,
    }


def _refuse_bad_entries(module: AnsibleModule, files: list[dict[str, Any]]) -> None:
    for entry in files:
        service, check = entry.get("service"), entry.get("check")
        if (
            not str(entry.get("dest", "")).startswith("/")
            or service not in (*SERVICES, None)
            or (service is None) != (check is None)
        ):
            module.fail_json(
                msg=f"bad entry {entry.get('dest')!r}: an absolute dest, and either a service "
                f"(one of {SERVICES}) with its check, or neither"
            )


def _put_all(
    module: AnsibleModule, files: list[dict[str, Any]], reload: set[str], added: list[str]
) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """Every file (reported only in check mode); the files changed, the services whose file
    was written and accepted by its checker, the diffs. `reload` gains the services whose
    file changed. A refusal or an error fails the module."""
    diffs: list[dict[str, str]] = []
    if module.check_mode:
        changed_files: list[str] = []
        for entry in files:
            old = _read(entry["dest"])
            if _in_place(entry, old):
                continue
            changed_files.append(entry["dest"])
            if entry.get("service"):
                reload.add(entry["service"])
            diffs.append(_diff(entry["dest"], old, entry["content"]))
        return changed_files, [], diffs
    try:
        written = put_all(files)
    except RefusedError as exc:
        kept = [entry["dest"] for entry, _old in exc.kept]
        module.fail_json(msg=str(exc), changed=bool(kept or added), changed_files=kept)
    except OSError as exc:
        module.fail_json(msg=f"writing the node-wide files (each put back as it was): {exc}")
    services = [entry["service"] for entry, _old in written if entry.get("service")]
    reload.update(services)
    diffs = [_diff(entry["dest"], old, entry["content"]) for entry, old in written]
    return [entry["dest"] for entry, _old in written], services, diffs


def main() -> None:
    """Entry point: addresses, pending services, each file in order; reload or name them."""
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True},
            "loaded_tool": {"type": "path", "required": True},
            "reload": {"type": "bool", "default": False},
            "addresses": {"type": "dict", "options": ADDRESS_OPTIONS},
        },
        supports_check_mode=True,
    )
    files = module.params["files"]
    _refuse_bad_entries(module, files)
    added: list[str] = []
    stale: list[str] = []
    if module.params["addresses"] is not None:
        try:
            added, stale = sync(module.run_command, module.params["addresses"], module.check_mode)
        except AddressError as exc:
            module.fail_json(msg=str(exc))
    try:
        reload = set(pending(module.params["loaded_tool"]))
    except (OSError, RuntimeError) as exc:
        if not module.check_mode:
            module.fail_json(msg=str(exc), changed=bool(added), added=added)
        reload = set()
    changed_files, checked, diffs = _put_all(module, files, reload, added)
    result: dict[str, Any] = {
        "changed": bool(changed_files) or bool(reload) or bool(added),
        "reload": [s for s in SERVICES if s in reload],
        "changed_files": changed_files,
        "added": added,
        "stale": stale,
    }
    if module.params["reload"] and reload and not module.check_mode:
        try:
            result["reloaded"] = reload_pending(module.params["loaded_tool"], checked)
        except RuntimeError as exc:
            module.fail_json(msg=str(exc), changed=True, changed_files=changed_files)
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
