"""A fast yes/no check compiled from a published JSON schema (the subset opdhost uses).

jsonschema walks a schema generically and costs ~100 us per request file, about as much as
parsing it; at 10,000 files that alone would break the performance budget. This module
compiles the schema once into nested closures that answer only "valid or not". Invalid
documents then go through the full jsonschema validator, which reports every error; so the
published schema stays the single source of truth. Compilation refuses any keyword it does
not implement, so the fast path can never silently skip a rule of the schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[object], bool]

ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "x-message"}
)


class UnsupportedSchemaError(Exception):
    """The schema uses a keyword this compiler does not implement."""


def _is_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_int,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: object, b: object) -> bool:
    """JSON equality: true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def compile_schema(schema: Any) -> Check:
    """Closure answering whether a value is valid against `schema`."""
    if schema is True:
        return lambda _v: True
    if schema is False:
        return lambda _v: False
    if not isinstance(schema, dict):
        raise UnsupportedSchemaError(f"schema must be an object or boolean: {schema!r}")
    checks: list[Check] = []
    unknown = set(schema) - ANNOTATIONS - _KEYWORDS - {"then", "else"}
    if unknown:
        raise UnsupportedSchemaError(f"unsupported keywords: {sorted(unknown)}")
    for keyword, build in _BUILDERS:
        if keyword in schema:
            checks.append(build(schema))
    if not checks:
        return lambda _v: True
    if len(checks) == 1:
        return checks[0]
    steps = tuple(checks)

    def every(v: object) -> bool:
        for step in steps:  # noqa: SIM110 - hot path: a loop beats all() over a generator
            if not step(v):
                return False
        return True

    return every


def _type(schema: dict[str, Any]) -> Check:
    wanted = schema["type"]
    names = wanted if isinstance(wanted, list) else [wanted]
    tests = [_TYPES[name] for name in names]
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(t(v) for t in tests)


def _enum(schema: dict[str, Any]) -> Check:
    options = list(schema["enum"])
    return lambda v: any(_equal(v, o) for o in options)


def _const(schema: dict[str, Any]) -> Check:
    value = schema["const"]
    return lambda v: _equal(v, value)


def python_pattern(pattern: str) -> str:
    """A schema (ECMA-262) pattern as Python must run it: a final `$` becomes `\\Z`.

    In ECMA-262 `$` matches only at the end of the text; in Python it also matches before a
    final newline, so `^[a-z]+$` would accept "disdik\\n". Every published pattern ends in `$`.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + "\\Z"
    return pattern


def python_patterns(schema: Any) -> Any:
    """A copy of a schema with every `pattern` rewritten by `python_pattern`."""
    if isinstance(schema, dict):
        return {
            k: python_pattern(v) if k == "pattern" and isinstance(v, str) else python_patterns(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [python_patterns(v) for v in schema]
    return schema


def _pattern(schema: dict[str, Any]) -> Check:
    search = re.compile(python_pattern(schema["pattern"])).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _max_length(schema: dict[str, Any]) -> Check:
    limit = schema["maxLength"]
    return lambda v: not isinstance(v, str) or len(v) <= limit


def _min_length(schema: dict[str, Any]) -> Check:
    limit = schema["minLength"]
    return lambda v: not isinstance(v, str) or len(v) >= limit


def _minimum(schema: dict[str, Any]) -> Check:
    limit = schema["minimum"]
    return lambda v: not _is_number(v) or v >= limit


def _maximum(schema: dict[str, Any]) -> Check:
    limit = schema["maximum"]
    return lambda v: not _is_number(v) or v <= limit


def _max_items(schema: dict[str, Any]) -> Check:
    limit = schema["maxItems"]
    return lambda v: not isinstance(v, list) or len(v) <= limit


def _unique_items(schema: dict[str, Any]) -> Check:
    if not schema["uniqueItems"]:
        return lambda _v: True

    def unique(v: object) -> bool:
        if not isinstance(v, list):
            return True
        seen: list[object] = []
        for item in v:
            if any(_equal(item, other) for other in seen):
                return False
            seen.append(item)
        return True

    return unique


def _items(schema: dict[str, Any]) -> Check:
    item = compile_schema(schema["items"])
    return lambda v: not isinstance(v, list) or all(item(i) for i in v)


def _properties(schema: dict[str, Any]) -> Check:
    items = tuple((name, compile_schema(sub)) for name, sub in schema["properties"].items())

    def check(v: object) -> bool:
        if not isinstance(v, dict):
            return True
        for name, sub in items:  # noqa: SIM110 - hot path, as above
            if name in v and not sub(v[name]):
                return False
        return True

    return check


def _required(schema: dict[str, Any]) -> Check:
    names = list(schema["required"])
    return lambda v: not isinstance(v, dict) or all(n in v for n in names)


def _additional(schema: dict[str, Any]) -> Check:
    known = frozenset(schema.get("properties", {}))
    extra = compile_schema(schema["additionalProperties"])
    if schema["additionalProperties"] is False:
        return lambda v: not isinstance(v, dict) or known.issuperset(v)
    return lambda v: (
        not isinstance(v, dict) or all(extra(value) for key, value in v.items() if key not in known)
    )


def _if(schema: dict[str, Any]) -> Check:
    condition = compile_schema(schema["if"])
    then = compile_schema(schema.get("then", True))
    otherwise = compile_schema(schema.get("else", True))
    return lambda v: then(v) if condition(v) else otherwise(v)


def _not(schema: dict[str, Any]) -> Check:
    inner = compile_schema(schema["not"])
    return lambda v: not inner(v)


_BUILDERS: list[tuple[str, Callable[[dict[str, Any]], Check]]] = [
    ("type", _type),
    ("enum", _enum),
    ("const", _const),
    ("pattern", _pattern),
    ("minLength", _min_length),
    ("maxLength", _max_length),
    ("minimum", _minimum),
    ("maximum", _maximum),
    ("maxItems", _max_items),
    ("uniqueItems", _unique_items),
    ("items", _items),
    ("required", _required),
    ("properties", _properties),
    ("additionalProperties", _additional),
    ("if", _if),
    ("not", _not),
]
_KEYWORDS = frozenset(k for k, _ in _BUILDERS)
