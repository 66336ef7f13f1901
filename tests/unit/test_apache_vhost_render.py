"""The node-wide files rendered by plain Jinja2 are the files Ansible's template lookup renders.

filter_plugins/apache_vhost_render.py replaced the template lookups of tasks/node_config.yml
(issue 16: 0.8 s -> 0.3 s of the controller at 500 sites). A difference would change every web
node's files, and reload its services, on the first run after an upgrade; a name a template
uses that the filter's context lacks must fail, not render an empty line.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from opdhost.apply.hostvars import converge_vars

from .modules import REPO, load

ROLE = REPO / "roles" / "apache_vhost"
TEMPLATES = ["site-ips.conf.j2", "php-fpm-pools.conf.j2", "sshd-sftp.conf.j2", "vhosts.conf.j2"]

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_vars: {role}/defaults/main.yml
    - ansible.builtin.include_vars: {role}/vars/main.yml
    - ansible.builtin.include_vars: {vars}
    - name: Render each template both ways
      ansible.builtin.copy:
        dest: "{out}/{{{{ item }}}}.{{{{ way }}}}"
        content: >-
          {{{{ lookup('ansible.builtin.template', '{role}/templates/' ~ item) if way == 'lookup'
             else (apache_vhost__render_vars | apache_vhost_render_files('{role}/templates',
                   [{{'dest': 'x', 'template': item}}]) | first).content }}}}
        mode: "0644"
      loop: {templates}
      vars:
        way: "{{{{ mode }}}}"
"""


def web1_vars() -> dict[str, object]:
    """The lab's web1 variables as `opdhost apply --all` renders them, with every shape the
    templates branch on: suspended, static and PHP, TLS and not, decommissioned, no alias."""
    values = copy.deepcopy(converge_vars(REPO, REPO / "inventories" / "lab")["web1"])
    sites = values["apache_vhost_sites"]
    assert isinstance(sites, list)
    extra = copy.deepcopy(sites[0])
    extra.update(site="lama", user="s-lama", fqdn="lama.kab-contoh.go.id", aliases=[], tls=False,
                 ip="10.203.0.199", status="decommissioned")  # fmt: skip
    plain = copy.deepcopy(sites[1])
    plain.update(site="polos", user="s-polos", fqdn="polos.kab-contoh.go.id", aliases=[],
                 tls=False, ip="10.203.0.198", status="active", runtime="static")  # fmt: skip
    sites += [extra, plain]
    return values


def render(tmp_path: Path, mode: str, values: dict[str, object]) -> dict[str, str]:
    """Each template rendered by Ansible (`lookup`) or by the filter (`plain`)."""
    (tmp_path / "vars.json").write_text(json.dumps(values), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (tmp_path / "render.yml").write_text(
        PLAYBOOK.format(role=ROLE, vars=tmp_path / "vars.json", out=out, templates=TEMPLATES),
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
         "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", "-e",
         f"mode={mode}", "-e", "inventory_hostname_short=web1", str(tmp_path / "render.yml")],
        env={"ANSIBLE_FILTER_PLUGINS": str(ROLE / "filter_plugins"), "PATH": "/usr/bin:/bin",
             "ANSIBLE_LOCALHOST_WARNING": "False", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {t: (out / f"{t}.{mode}").read_text(encoding="utf-8") for t in TEMPLATES}


def test_plain_render_is_ansibles_template_lookup(tmp_path: Path) -> None:
    values = web1_vars()
    by_lookup = render(tmp_path, "lookup", values)
    by_filter = render(tmp_path, "plain", values)
    for template in TEMPLATES:
        assert by_filter[template] == by_lookup[template], template
    assert "polos.kab-contoh.go.id" in by_filter["vhosts.conf.j2"]
    assert "lama.kab-contoh.go.id" not in by_filter["vhosts.conf.j2"]  # decommissioned


def test_a_value_is_printed_never_evaluated(tmp_path: Path) -> None:
    """Site data are values: a '{{' in one (never valid in a request) stays as it is."""
    render_files = load(
        "roles/apache_vhost/filter_plugins/apache_vhost_render.py", "apache_vhost_render"
    ).apache_vhost_render_files
    (tmp_path / "t.j2").write_text("{% for s in sites %}{{ s }}\n{% endfor %}", encoding="utf-8")
    out = render_files({"sites": ["{{ 7 * 7 }}"]}, str(tmp_path), [{"template": "t.j2"}])
    assert out == [{"content": "{{ 7 * 7 }}\n"}]


def test_a_name_the_context_lacks_fails_the_render(tmp_path: Path) -> None:
    render_files = load(
        "roles/apache_vhost/filter_plugins/apache_vhost_render.py", "apache_vhost_render"
    ).apache_vhost_render_files
    (tmp_path / "t.j2").write_text("Listen {{ apache_vhost_port }}\n", encoding="utf-8")
    with pytest.raises(Exception, match="apache_vhost_port"):
        render_files({}, str(tmp_path), [{"template": "t.j2"}])
