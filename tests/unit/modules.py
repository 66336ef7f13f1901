"""Import a role's module or a node-side program from its file.

They are not packages: Ansible copies them to the nodes and runs them there, so the tests load
them by path, under their own name, the way they run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def load(relative: str, name: str) -> ModuleType:
    """The module in `relative` (to the repository root), executed once under `name`."""
    spec = importlib.util.spec_from_file_location(name, REPO / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
