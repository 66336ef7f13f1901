"""Safe YAML loading with line numbers, for request files and platform variables.

PyYAML's C parser composes the node graph (fast, no Python objects built from tags); this
module then builds plain values itself, so it can refuse what `yaml.safe_load` lets through:
duplicate keys (silently last-wins in PyYAML), aliases (the billion-laughs bomb), merge keys,
non-string keys, unknown tags, and control or invisible formatting characters in any key or
text value (a name ending in a newline would pass a `$`-anchored check, bypass uniqueness and
split a configuration line on the hosts). Every value's line is recorded under its dotted field path
(`web.aliases[1]`) so later checks can say `path:line: field: message`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from opdhost.errors import Finding

_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_BYTES = 256 * 1024
"""Request and platform files are small; anything bigger is a mistake or an attack."""
MAX_DEPTH = 16
"""Requests nest four levels deep; a deeper document is refused before recursion hurts."""

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"

_constructor = SafeConstructor()

_FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
"""C0 and C1 control characters (newline and tab included), line and paragraph separators,
zero-width and bidirectional formatting characters: no request or platform value needs one,
and each can hide or split a name on its way to Apache, BIND, SQL, pg_hba or a review."""


_CONTROL_NAMES = {"\t": "tab", "\n": "line feed", "\r": "carriage return", "\x00": "NUL"}


def forbidden_character(text: str) -> str | None:
    """Where and which the first forbidden character of `text` is, in words; None if none."""
    found = _FORBIDDEN.search(text)
    if found is None:
        return None
    char = found.group()
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "control character").lower()
    return f"the character U+{ord(char):04X} ({name}) at position {found.start() + 1}"


@dataclass(frozen=True, slots=True)
class Document:
    """A loaded YAML file: the plain value and the line (1-based) of every field path."""

    path: str
    value: object
    lines: dict[str, int]

    def line(self, field: str) -> int:
        """Line of `field`, else of its closest recorded parent, else 1."""
        while field:
            found = self.lines.get(field)
            if found is not None:
                return found
            field = _parent(field)
        return self.lines.get("", 1)


def _parent(field: str) -> str:
    """`web.aliases[1]` -> `web.aliases` -> `web` -> ``."""
    cut = max(field.rfind("."), field.rfind("["))
    return field[:cut] if cut > 0 else ""


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "a scalar"


class _Builder:
    """Turns a composed node graph into plain values, collecting findings as it goes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: dict[str, int] = {}
        self.findings: list[Finding] = []
        self._seen: set[int] = set()

    def _error(self, line: int, field: str, message: str) -> None:
        self.findings.append(Finding(self.path, line, field or "(document)", message))

    def build(self, node: Node, field: str, line: int, depth: int = 0) -> object:
        if depth > MAX_DEPTH:
            self._error(line, field, f"nested deeper than {MAX_DEPTH} levels")
            return None
        key = id(node)
        if key in self._seen:
            # The composer hands out the anchored node again for every alias: a second visit
            # means an alias (or a cycle). Aliases are how YAML bombs multiply; requests
            # never need them.
            self._error(line, field, "YAML aliases (*name) are not allowed")
            return None
        self._seen.add(key)
        self.lines[field] = line
        if isinstance(node, ScalarNode):
            return self._scalar(node, field, line)
        if isinstance(node, MappingNode):
            return self._mapping(node, field, depth)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                self._error(line, field, f"unsupported YAML tag {node.tag!r}")
                return None
            # An alias item carries its anchor's mark: report it on the list's line instead.
            seen = self._seen
            return [
                self.build(
                    item,
                    f"{field}[{index}]",
                    line if id(item) in seen else item.start_mark.line + 1,
                    depth + 1,
                )
                for index, item in enumerate(node.value)
            ]
        self._error(line, field, "unsupported YAML node")  # pragma: no cover - defensive
        return None

    def _scalar(self, node: ScalarNode, field: str, line: int) -> object:
        tag = node.tag
        value: str = node.value
        if tag == _STR:
            bad = forbidden_character(value)
            if bad is not None:
                self._error(
                    line,
                    field,
                    f"contains {bad}: text values are one line of printable characters "
                    "(no control, line-break or invisible formatting characters)",
                )
                return None
            return value
        if tag == _TIMESTAMP:
            return value  # dates stay ISO strings: the schema checks their shape
        if tag == _INT:
            return int(value) if value.isdigit() else _constructor.construct_yaml_int(node)
        if tag == _BOOL:
            return _constructor.construct_yaml_bool(node)
        if tag == _NULL:
            return None
        if tag == _FLOAT:
            return _constructor.construct_yaml_float(node)
        self._error(line, field, f"unsupported YAML tag {tag!r}")
        return None

    def _mapping(self, node: MappingNode, field: str, depth: int) -> dict[str, object] | None:
        if node.tag != _MAP:
            self._error(node.start_mark.line + 1, field, f"unsupported YAML tag {node.tag!r}")
            return None
        result: dict[str, object] = {}
        prefix = f"{field}." if field else ""
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                self._error(line, field, "YAML merge keys (<<) are not allowed")
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
                shown = key_node.value if isinstance(key_node, ScalarNode) else _describe(key_node)
                self._error(line, field, f"keys must be text, got {shown!r}")
                continue
            key: str = key_node.value
            child = prefix + key
            bad_key = forbidden_character(key)
            if bad_key is not None:
                self._error(line, child, f"a key contains {bad_key}")
                continue
            if key in result:
                first = self.lines.get(child, line)
                self._error(line, child, f"duplicate key (first defined on line {first})")
                continue
            result[key] = self.build(value_node, child, line, depth + 1)
        return result


def load_document(data: bytes, path: str) -> tuple[Document | None, list[Finding]]:
    """Load one YAML file's bytes; return the document, or None with every finding."""
    if len(data) > MAX_BYTES:
        return None, [Finding(path, 1, "(file)", f"file is larger than {MAX_BYTES} bytes")]
    nul = data.find(b"\x00")
    if nul >= 0:
        line = _line_of_offset(data, nul)
        return None, [Finding(path, line, "(file)", "binary file (contains NUL bytes)")]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_of_offset(data, exc.start)
        bad = data[exc.start : exc.start + 1].hex()
        message = f"not valid UTF-8 (byte 0x{bad} at offset {exc.start})"
        return None, [Finding(path, line, "(file)", message)]
    try:
        node = yaml.compose(data, Loader=_CLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [Finding(path, line, "(yaml)", f"YAML syntax error: {problem}")]
    except yaml.YAMLError as exc:
        return None, [Finding(path, 1, "(yaml)", f"YAML error: {exc}")]
    except RecursionError:
        return None, [Finding(path, 1, "(yaml)", "YAML nested too deeply")]
    if node is None:
        return None, [Finding(path, 1, "(file)", "empty file (no YAML document)")]
    builder = _Builder(path)
    value = builder.build(node, "", node.start_mark.line + 1)
    if builder.findings:
        return None, builder.findings
    return Document(path, value, builder.lines), []
