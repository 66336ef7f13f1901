"""The published schema, its compiled fast path and the model's field lines."""

from __future__ import annotations

import json

import jsonschema
import pytest
from opdhost.fleet import fastschema
from opdhost.fleet.model import parse_request
from opdhost.fleet.schema import REQUEST_SCHEMA, fast_check, schema_text, validator
from opdhost.fleet.yamlload import load_document

from .conftest import PATH, VALID, opdhost
from .test_bad_input import CASES


def test_fast_path_agrees_with_jsonschema_on_every_case() -> None:
    full = validator(REQUEST_SCHEMA)
    fast = fast_check(REQUEST_SCHEMA)
    documents = []
    for _, content, _, _ in CASES:
        data = content if isinstance(content, bytes) else content.encode()
        doc, _ = load_document(data, PATH)
        if doc is not None:
            documents.append(doc.value)
    valid, _ = load_document(VALID.encode(), PATH)
    assert valid is not None
    documents.append(valid.value)
    assert len(documents) > 50
    for value in documents:
        assert fast(value) == full.is_valid(value), value
    assert fast(valid.value)


def test_fast_path_refuses_keywords_it_does_not_implement() -> None:
    with pytest.raises(fastschema.UnsupportedSchemaError):
        fastschema.compile_schema({"type": "object", "patternProperties": {"^x": {}}})
    # the published schema compiles (every keyword it uses is implemented)
    fastschema.compile_schema(json.loads(schema_text(REQUEST_SCHEMA)))


def test_published_schema_is_a_valid_json_schema() -> None:
    schema = json.loads(schema_text(REQUEST_SCHEMA))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert opdhost("schema").stdout == schema_text(REQUEST_SCHEMA)


def test_lines_survive_into_the_model() -> None:
    req, found = parse_request(VALID.encode(), PATH)
    assert req is not None and not found
    assert (req.line("web.ip"), req.line("web.aliases[0]"), req.line("database.name")) == (
        16,
        21,
        23,
    )
