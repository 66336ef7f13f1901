"""Templates to HTML (Jinja2, autoescaped) and HTML to PDF (WeasyPrint).

Every template is autoescaped, whatever its name: the values come from request files, which
are the agencies' words, so `<script>` in a name is printed as text. Undefined names are
errors (a misspelt field must not print as nothing in a letter). The office's own directory
of templates (documents.yml `templates:`) is searched before the shipped one, so it can
replace one file and keep the rest. WeasyPrint fetches only local files (`file:` and `data:`
URLs): a template never reaches the network.

Jinja2 and WeasyPrint are imported here only, when a document is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opdhost.documents.base import DocumentError

TEMPLATES = Path(__file__).resolve().parent / "templates"


def template_dirs(office_dir: Path | None) -> list[Path]:
    """The office's directory (if any) first, then the shipped templates."""
    if office_dir is not None and not office_dir.is_dir():
        raise DocumentError(f"templates directory {office_dir} (documents.yml) does not exist")
    return [d for d in (office_dir, TEMPLATES) if d is not None]


def render_html(name: str, context: dict[str, Any], dirs: list[Path]) -> str:
    """Render template `name` with `context`; DocumentError naming the template and line."""
    import jinja2  # noqa: PLC0415 - only documents pay for Jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise DocumentError(
            f"template {exc.filename or exc.name or name}:{exc.lineno}: {exc.message}"
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise DocumentError(
            f"template {exc.name} not found in {', '.join(str(d) for d in dirs)}"
        ) from None
    except jinja2.TemplateError as exc:
        raise DocumentError(f"template {name}: {exc.message or exc}") from None


def html_to_pdf(html: str, base: Path) -> bytes:
    """The PDF of `html`; relative URLs (logo, stylesheet) resolve against `base`."""
    import weasyprint  # type: ignore[import-untyped]  # noqa: PLC0415 - only PDFs pay
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]  # noqa: PLC0415

    fetcher = URLFetcher(allowed_protocols=("file", "data"), timeout=5)
    try:
        document = weasyprint.HTML(string=html, base_url=str(base) + "/", url_fetcher=fetcher)
        pdf = document.write_pdf()
    except Exception as exc:  # WeasyPrint raises many kinds; none may become a traceback
        raise DocumentError(f"cannot render the PDF: {exc}") from None
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf() without target
        raise DocumentError("cannot render the PDF: WeasyPrint returned no bytes")
    return pdf
