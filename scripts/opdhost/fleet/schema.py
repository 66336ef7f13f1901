"""The published JSON schemas (scripts/opdhost/schema/) and their errors as findings."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from opdhost.errors import Finding
from opdhost.fleet.fastschema import Check, compile_schema, python_patterns
from opdhost.fleet.yamlload import Document

if TYPE_CHECKING:  # jsonschema is imported only to explain an invalid file (start-up time)
    import jsonschema
    from jsonschema.exceptions import ValidationError

REQUEST_SCHEMA = "request.schema.json"
PLATFORM_SCHEMA = "platform.schema.json"

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "boolean": "true or false",
}


def schema_text(name: str) -> str:
    """The raw text of a published schema (for `opdhost schema` and the docs)."""
    return resources.files("opdhost").joinpath("schema", name).read_text(encoding="utf-8")


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """A checked, reusable validator for one schema (built once per process)."""
    import jsonschema  # noqa: PLC0415 - see the TYPE_CHECKING import above

    schema = json.loads(schema_text(name))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(python_patterns(schema))


@functools.cache
def fast_check(name: str) -> Check:
    """The compiled yes/no check of a schema (see fastschema)."""
    return compile_schema(json.loads(schema_text(name)))


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if value is None:
        return "nothing (null)"
    return "text"


def _field(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _translate(error: ValidationError) -> list[tuple[str, str]]:
    """One schema error -> (field, message) pairs phrased for the engineer."""
    field = _field(error.absolute_path)
    kind = error.validator
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = set(schema.get("properties", {}))
        extra = sorted(k for k in value if k not in allowed)
        known = ", ".join(sorted(allowed))
        return [(_join(field, k), f"unknown key (expected one of: {known})") for k in extra]
    if kind == "required" and isinstance(value, dict):
        names = [str(n) for n in _values(error.validator_value) if n not in value]
        return [(_join(field, n), "required field is missing") for n in names]
    if kind == "type":
        wanted = _TYPE_NAMES.get(str(error.validator_value), str(error.validator_value))
        return [(field, f"expected {wanted}, got {_kind(value)}")]
    if kind == "pattern":
        message = schema.get("x-message", f"does not match {error.validator_value}")
        return [(field, f"{value!r} {message}")]
    if kind == "enum":
        options = ", ".join(str(v) for v in _values(error.validator_value))
        return [(field, f"{value!r} is not one of: {options}")]
    if kind == "minimum":
        return [(field, f"{value!r} is too small (minimum {error.validator_value})")]
    if kind == "minItems":
        return [(field, f"expected at least {error.validator_value} entry")]
    if kind == "maximum":
        return [(field, f"{value!r} is too large (maximum {error.validator_value})")]
    if kind == "not":
        why = "not allowed with engine none (it takes no server, name, user or quota_mb)"
        return [(field, why)]
    return [(field, error.message)]


def _values(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def check(doc: Document, name: str = REQUEST_SCHEMA) -> list[Finding]:
    """Validate a loaded document against a published schema; every error, with its line."""
    instance: Any = doc.value
    if name == REQUEST_SCHEMA and fast_check(name)(instance):
        return []  # the common case, 10x cheaper; invalid files get the full report below
    found: set[Finding] = set()
    for error in validator(name).iter_errors(instance):
        for field, message in _translate(error):
            found.add(Finding(doc.path, doc.line(field), field or "(document)", message))
    return sorted(found)
