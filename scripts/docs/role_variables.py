#!/usr/bin/env python3
"""Write each role's variable table in docs/roles/<role>.md from its meta/argument_specs.yml.

One source: the argument spec is what Ansible checks a role's input against, so the table a
reader sees is generated from it (type, default from defaults/main.yml, description, and the
fields of list-of-mapping variables) between two marker lines. `--check` changes nothing and
exits 1 when a page is out of date (the unit tests run it).

    scripts/docs/role_variables.py            # rewrite the tables
    scripts/docs/role_variables.py --check    # fail when a table differs from its spec
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
BEGIN = (
    "<!-- variables: generated from roles/{role}/meta/argument_specs.yml"
    " by scripts/docs/role_variables.py -->"
)
END = "<!-- end of generated variables -->"


def _text(value: Any) -> str:
    """Ansible's C(x) / I(x) markup as Markdown code; lists of lines joined."""
    text = " ".join(value) if isinstance(value, list) else str(value or "")
    for mark in ("C(", "I(", "V(", "O("):
        while mark in text:
            start = text.index(mark)
            end = text.find(")", start)
            if end < 0:
                break
            text = text[:start] + "`" + text[start + 2 : end] + "`" + text[end + 1 :]
    return text.replace("|", "\\|").replace("\n", " ")


def _default(name: str, spec: dict[str, Any], defaults: dict[str, Any]) -> str:
    value = spec.get("default", defaults.get(name, ""))
    if value == "" and name not in defaults and "default" not in spec:
        return "required" if spec.get("required") else "—"
    shown = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    shown = shown.removesuffix("...").strip()
    return f"`{shown}`" if len(shown) <= 40 else "see `defaults/main.yml`"


def table(role: str) -> str:
    """The Markdown table of one role's `main` entry point."""
    base = REPO / "roles" / role
    specs = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    defaults_file = base / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text(encoding="utf-8")) or {}
    options: dict[str, Any] = specs["argument_specs"]["main"].get("options", {})
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, spec in options.items():
        kind = spec.get("type", "str")
        if kind == "list" and spec.get("elements"):
            kind = f"list of {spec['elements']}"
        meaning = _text(spec.get("description"))
        if spec.get("choices"):
            meaning += " One of: " + ", ".join(f"`{c}`" for c in spec["choices"]) + "."
        sub = spec.get("options") or {}
        if sub:
            fields = ", ".join(
                f"`{k}`" + ("" if v.get("required") else " (optional)") for k, v in sub.items()
            )
            meaning += f" Each: {fields}."
        rows.append(f"| `{name}` | {kind} | {_default(name, spec, defaults)} | {meaning} |")
    return "\n".join(rows)


def update(page: str, role: str) -> str:
    """The page with its generated block replaced (or ValueError when it has no markers)."""
    begin = BEGIN.format(role=role)
    if begin not in page or END not in page:
        raise ValueError(f"docs/roles/{role}.md has no generated-variables markers")
    head, rest = page.split(begin, 1)
    _old, tail = rest.split(END, 1)
    return f"{head}{begin}\n{table(role)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for page in sorted((REPO / "docs" / "roles").glob("*.md")):
        role = page.stem
        if not (REPO / "roles" / role / "meta" / "argument_specs.yml").is_file():
            continue
        text = page.read_text(encoding="utf-8")
        try:
            new = update(text, role)
        except ValueError as exc:
            print(f"{page.relative_to(REPO)}: {exc}", file=sys.stderr)
            stale.append(role)
            continue
        if new != text:
            stale.append(role)
            if not check:
                page.write_text(new, encoding="utf-8")
    if check and stale:
        names = ", ".join(stale)
        print(f"out of date: {names}: run scripts/docs/role_variables.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
