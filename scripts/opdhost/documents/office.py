"""The office's own data for its papers: `inventories/<env>/group_vars/all/documents.yml`.

Letterhead, the place and signatory of letters, the outgoing letter numbering scheme, the
time zone of dates, and optionally a directory with the office's own copies of the templates.
A separate file, so the platform file stays what validation and the roles read.
"""

from __future__ import annotations

import string
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opdhost.documents.base import DocumentError
from opdhost.fleet.yamlload import forbidden_character, load_document

DOCUMENTS_FILE = "documents.yml"
KEY = "opdhost_documents"
SCHEME_FIELDS = {"seq", "code", "year", "month", "month_roman", "kind_code"}
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


@dataclass(frozen=True, slots=True)
class Signatory:
    """Who signs the letters."""

    title: str
    title_en: str
    name: str
    rank: str
    nip: str


@dataclass(frozen=True, slots=True)
class Office:
    """Everything documents.yml says."""

    path: Path
    letterhead: dict[str, str]
    place: str
    signatory: Signatory
    scheme: str
    code: str
    kind_codes: dict[str, str]
    timezone: zoneinfo.ZoneInfo
    templates: Path | None
    sftp_port: int
    credentials_file: str

    def number(self, seq: int, year: int, month: int, kind: str) -> str:
        """The outgoing letter number for sequence `seq`."""
        return self.scheme.format(
            seq=seq,
            code=self.code,
            year=year,
            month=month,
            month_roman=ROMAN[month - 1],
            kind_code=self.kind_codes.get(kind, self.code),
        )


def documents_path(platform_file: Path) -> Path:
    """documents.yml next to the platform file."""
    return platform_file.parent / DOCUMENTS_FILE


def _text(data: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise DocumentError(f"{where}.{key}: must be text")
    text = str(value)
    if required and not text.strip():
        raise DocumentError(f"{where}.{key}: is required")
    bad = forbidden_character(text)
    if bad:
        raise DocumentError(f"{where}.{key}: contains {bad}")
    if len(text) > 200:
        raise DocumentError(f"{where}.{key}: longer than 200 characters")
    return text


def _mapping(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DocumentError(f"{where}: must be a mapping")
    return data


def _check_scheme(scheme: str, where: str) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(scheme) if f is not None}
    except ValueError as exc:
        raise DocumentError(f"{where}: {scheme!r} is not a valid scheme ({exc})") from None
    unknown = fields - SCHEME_FIELDS
    if unknown or "seq" not in fields:
        raise DocumentError(
            f"{where}: {scheme!r} must contain {{seq}} and only "
            + ", ".join(f"{{{f}}}" for f in sorted(SCHEME_FIELDS)),
        )
    try:
        scheme.format(seq=1, code="x", year=2026, month=1, month_roman="I", kind_code="x")
    except (ValueError, KeyError, IndexError) as exc:
        raise DocumentError(f"{where}: {scheme!r} cannot be filled in ({exc})") from None


def load_office(platform_file: Path, root: Path) -> Office:
    """Read documents.yml next to `platform_file`; DocumentError when missing or wrong."""
    path = documents_path(platform_file)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DocumentError(
            f"no letterhead: {path} does not exist",
            hint="copy inventories/lab/group_vars/all/documents.yml and fill in the office's "
            "letterhead, signatory and numbering (docs/documents.md)",
        ) from None
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror}") from None
    doc, found = load_document(data, str(path))
    if doc is None:
        raise DocumentError("; ".join(str(f) for f in found) or f"{path}: cannot be read")
    top = _mapping(doc.value, str(path))
    settings = _mapping(top.get(KEY), f"{path}: {KEY}")
    where = f"{path}: {KEY}"
    head = _mapping(settings.get("letterhead"), f"{where}.letterhead")
    letterhead = {
        key: _text(head, key, f"{where}.letterhead", key in ("government", "office"))
        for key in ("government", "office", "office_en", "address", "phone", "email",
                    "website", "logo")
    }  # fmt: skip
    sign = _mapping(settings.get("signatory"), f"{where}.signatory")
    signatory = Signatory(
        *(_text(sign, k, f"{where}.signatory", k in ("title", "name"))
          for k in ("title", "title_en", "name", "rank", "nip"))
    )  # fmt: skip
    numbering = _mapping(settings.get("numbering"), f"{where}.numbering")
    scheme = _text(numbering, "scheme", f"{where}.numbering")
    _check_scheme(scheme, f"{where}.numbering.scheme")
    kinds = _mapping(numbering.get("kind_codes") or {}, f"{where}.numbering.kind_codes")
    tz_name = _text(settings, "timezone", where, required=False) or "Asia/Jakarta"
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DocumentError(f"{where}.timezone: unknown time zone {tz_name!r}") from None
    templates = _text(settings, "templates", where, required=False)
    port = settings.get("sftp_port", 22)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise DocumentError(f"{where}.sftp_port: must be a port number")
    credentials = _text(settings, "credentials_file", where, required=False)
    return Office(
        path=path,
        letterhead=letterhead,
        place=_text(settings, "place", where),
        signatory=signatory,
        scheme=scheme,
        code=_text(numbering, "code", f"{where}.numbering", required=False),
        kind_codes={str(k): _text(kinds, str(k), f"{where}.numbering.kind_codes") for k in kinds},
        timezone=tz,
        templates=(root / templates) if templates else None,
        sftp_port=port,
        credentials_file=credentials or "/srv/www/{site}/private/db.env",
    )
