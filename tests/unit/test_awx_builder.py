"""execution-environment.yml: `ansible-builder create` writes its build context (docs/awx.md).

No registry is reachable where the tests run, so the image is not built; the context is what
`ansible-builder build` (or podman build) would use, and it must carry the collections the
roles call and the Python packages the inventory plugin imports, at the tested versions.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import REPO

BIN = Path(sys.executable).parent
FQCN = re.compile(r"^\s*-?\s*([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+:", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    """name (lower case) -> version of `name==version` lines."""
    found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)
    return {name.lower(): version for name, version in found}


def test_ansible_builder_create_writes_the_build_context(tmp_path: Path) -> None:
    context = tmp_path / "context"
    done = subprocess.run(
        [str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml",
         "-c", str(context)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert 'EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert "ansible-core==2.19.14" in containerfile and "ansible-runner==2.4.3" in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert "-r requirements.yml" in containerfile
    assert "requirements.txt" in containerfile and "bindep.txt" in containerfile

    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    names = {c["name"] for c in galaxy["collections"]}
    for needed in ("community.mysql", "community.postgresql", "community.general",
                   "community.crypto", "ansible.posix"):  # fmt: skip
        assert needed in names
    python = pins((context / "_build" / "requirements.txt").read_text(encoding="utf-8"))
    assert {"cryptography", "dnspython", "pyyaml"} <= set(python)
    assert "openssh-clients" in (context / "_build" / "bindep.txt").read_text(encoding="utf-8")


def test_every_collection_the_roles_call_is_in_the_ee() -> None:
    used: set[str] = set()
    for path in [*REPO.glob("roles/*/**/*.yml"), *REPO.glob("playbooks/**/*.yml")]:
        used |= set(FQCN.findall(path.read_text(encoding="utf-8")))
    used -= {"ansible.builtin"}
    galaxy = yaml.safe_load((REPO / "ee" / "requirements.yml").read_text(encoding="utf-8"))
    listed = {c["name"] for c in galaxy["collections"]}
    assert used and used <= listed, sorted(used - listed)


def test_ee_versions_are_the_tested_ones() -> None:
    """The EE pins what constraints.txt pins: the image runs what the tests ran."""
    tested = pins((REPO / "constraints.txt").read_text(encoding="utf-8"))
    ee = pins((REPO / "ee" / "requirements.txt").read_text(encoding="utf-8"))
    assert ee and all(tested.get(name) == version for name, version in ee.items()), ee
    definition = (REPO / "execution-environment.yml").read_text(encoding="utf-8")
    assert f"ansible-core=={tested['ansible-core']}" in definition
    assert f"ansible-runner=={tested['ansible-runner']}" in definition


def test_ee_python_covers_what_the_plugin_imports() -> None:
    """Every distribution opdhost.apply.hostvars imports is in the EE (or in its base)."""
    probe = (
        "import sys, importlib.metadata as md\n"
        "before = set(sys.modules)\n"
        f"sys.path.insert(0, {str(REPO / 'scripts')!r})\n"
        "import opdhost.apply.hostvars\n"
        "tops = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "dists = md.packages_distributions()\n"
        "print('\\n'.join(sorted({d for t in tops for d in dists.get(t, [])})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    imported = {line.lower() for line in done.stdout.split()} - {"opdhost"}
    # Installed with ansible-core and ansible-runner by the EE's own dependencies.
    base = {"ansible-core", "ansible-runner", "pexpect", "ptyprocess", "jinja2", "markupsafe",
            "pyyaml", "cryptography", "cffi", "pycparser", "packaging", "resolvelib",
            "python-daemon", "lockfile"}  # fmt: skip
    ee = set(pins((REPO / "ee" / "requirements.txt").read_text(encoding="utf-8")))
    assert imported - base <= ee, sorted(imported - base - ee)
