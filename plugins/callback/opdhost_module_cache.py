"""Reuse built module payloads across runs: link this run's payload directory to opdhost's.

Why: ansible-core builds a module's payload (AnsiballZ: the module and every module_utils file
it imports, found by parsing them) once per run, in its per-run temporary directory, and
throws it away at the end. opdhost's runner (scripts/opdhost/apply/module_cache.py) keeps a
directory keyed by the sources of those payloads; this callback makes ansible-core's payload
directory of the run a link to it, before the first task, so the payloads built by an earlier
run with the same sources are loaded instead of built again (about 1.2 s of a one-site apply
on a 500-site fleet: docs/benchmarks.md).

Enabled by opdhost's runner only (ANSIBLE_CALLBACKS_ENABLED), with the keyed directory in
OPDHOST_MODULE_CACHE_DIR, so it runs where opdhost is installed and asks opdhost's own check
(`module_cache.unsafe`) again at the start of the run. It does nothing when the variable is
unset, when the run's payload directory already exists, or when the keyed directory is not a
real directory of this user closed to group and others (ansible-core unpickles the payloads:
others must not be able to write them).
"""

from __future__ import annotations

import os
from pathlib import Path

from ansible import constants
from ansible.plugins.callback import CallbackBase

try:
    from opdhost.apply.module_cache import unsafe
except ImportError as exc:  # enabled outside opdhost's runner: nothing to check with, no cache
    _MISSING = f"opdhost is not importable here ({exc})"
else:
    _MISSING = ""

DOCUMENTATION = """
    name: opdhost_module_cache
    type: aggregate
    short_description: Reuse built module payloads across runs (opdhost's keyed cache)
    description:
      - Links ansible-core's per-run payload directory (C(ansiballz_cache) in the local temporary
        directory) to the directory named by O(directory), when that directory is a real
        directory owned by the running user with no group or other permissions.
    options:
      directory:
        description: The keyed payload directory of this run (opdhost's runner sets it).
        type: path
        env:
          - name: OPDHOST_MODULE_CACHE_DIR
"""

PAYLOADS = "ansiballz_cache"  # ansible-core's name, in executor/module_common.py


class CallbackModule(CallbackBase):
    """Link the payload directory at the start of the playbook."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "opdhost_module_cache"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook: object) -> None:
        """Before any task: make the run's payload directory the keyed one, when it is safe."""
        target = self.get_option("directory")
        if not target:
            return
        why = _MISSING or unsafe(Path(target))
        if why:
            self._display.warning(f"opdhost module cache not used: {why}")
            return
        link = os.path.join(constants.DEFAULT_LOCAL_TMP, PAYLOADS)
        try:
            os.symlink(target, link)
        except FileExistsError:
            return  # payloads were built already this run: they stay in the run's directory
        self._display.vvv(f"opdhost module cache: {link} -> {target}")

