"""Render one of the role's node-wide templates with plain Jinja2 over plain data.

The four node-wide files (virtual hosts, PHP-FPM pools, SFTP jail, site IP list) are rendered
from every served site on every run that touches the node. Through Ansible's template lookup
that cost about 0.75 s of the controller at 500 sites (ansible-core 2.19 copies every variable
for each lookup and goes through its lazy, tagged containers for each attribute), on the
critical path of a one-site apply; here the data is turned into plain lists and dicts once and
the same templates render in about 30 ms (issue 16).

The templates are the role's own files; the data is passed as values, never evaluated as a
template (a site's value containing "{{" is printed as it is). An undefined name fails the
render (StrictUndefined), so a template can never silently lose a line. The output is what
Ansible's template lookup gives for the same template and values (trim_blocks, the template's
trailing newlines kept): tests/unit/test_apache_vhost_render.py compares both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import jinja2
from ansible.plugins.filter.core import (  # type: ignore[import-untyped,unused-ignore]
    comment,
    regex_escape,
)


def _plain(value: Any) -> Any:
    """Lists, dicts, strings, numbers and booleans only (one pass over Ansible's containers)."""
    return json.loads(json.dumps(value))


def _trailing_newlines(text: str) -> int:
    return len(text) - len(text.rstrip("\n"))


def _render(env: jinja2.Environment, directory: str, name: str, context: dict[str, Any]) -> str:
    with open(os.path.join(directory, name), encoding="utf-8") as source:
        wanted = _trailing_newlines(source.read())
    text = env.get_template(name).render(context)
    # As Ansible's template lookup: the template's own trailing newlines are kept.
    return text + "\n" * max(0, wanted - _trailing_newlines(text))


def apache_vhost_render_files(context: Any, directory: str, files: Any) -> list[dict[str, Any]]:
    """`files` (mappings with a `template` in `directory`), each with its `content` rendered
    from `context` (a mapping of values) and without `template`: the data is made plain once
    for all of them."""
    if not isinstance(context, dict) or not isinstance(files, list):
        raise TypeError("apache_vhost_render_files needs a mapping of values and a list of files")
    env = jinja2.Environment(  # configuration files, not HTML: no autoescape
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        autoescape=False,
    )
    env.filters["comment"] = comment
    env.filters["regex_escape"] = regex_escape
    values = _plain(context)
    out = []
    for entry in _plain(files):
        template = entry.pop("template")
        out.append({**entry, "content": _render(env, directory, template, values)})
    return out


class FilterModule:
    """Ansible's entry point for the filters of this file."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        """The filter names and their functions."""
        return {"apache_vhost_render_files": apache_vhost_render_files}
