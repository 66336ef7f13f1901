"""Everything a document reads, gathered once: root, platform, office, requests, records."""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from opdhost.apply.records import Records
from opdhost.documents.base import DocumentError
from opdhost.documents.history import History, read_history
from opdhost.documents.office import Office, load_office
from opdhost.documents.render import template_dirs
from opdhost.documents.runs import RunFacts, read_runs
from opdhost.errors import FindingsError
from opdhost.fleet.loading import Fleet, load_working_tree
from opdhost.fleet.model import Request
from opdhost.fleet.platform import Platform


@dataclass(slots=True)
class Sources:
    """The inputs of every document."""

    root: Path
    platform: Platform
    office: Office
    fleet: Fleet
    records: Records
    runs: RunFacts
    history: History
    dirs: list[Path]

    def request(self, site: str) -> Request:
        """The request of `site`; DocumentError (or its file's findings) when there is none."""
        found = self.fleet.by_site().get(site)
        if found is not None:
            return found
        broken = [f for f in self.fleet.findings if Path(f.path).stem == site]
        if broken:
            raise FindingsError(broken)
        raise DocumentError(
            f"no request for site {site!r} under {self.root / 'requests'}",
            hint="the site is the file name of requests/<opd>/<site>.yaml",
        )

    def logo(self) -> str:
        """The letterhead's logo as a data: URL ('' when documents.yml names none)."""
        name = self.office.letterhead.get("logo", "")
        if not name:
            return ""
        candidates = [self.office.path.parent / name, *(d / name for d in self.dirs)]
        for path in candidates:
            if path.is_file():
                kind = mimetypes.guess_type(path.name)[0] or ""
                if kind not in ("image/png", "image/svg+xml", "image/jpeg"):
                    raise DocumentError(f"letterhead logo {path}: not a PNG, JPEG or SVG file")
                data = base64.b64encode(path.read_bytes()).decode()
                return f"data:{kind};base64,{data}"
        raise DocumentError(
            f"letterhead logo {name!r} (in {self.office.path}) not found next to it "
            "nor in the templates"
        )


def gather(root: Path, platform: Platform, platform_file: Path, records_root: Path) -> Sources:
    """Read the office settings, the requests, the run records and the history."""
    office = load_office(platform_file, root)
    records = Records(records_root, platform.environment)
    return Sources(
        root=root,
        platform=platform,
        office=office,
        fleet=load_working_tree(root),
        records=records,
        runs=read_runs(records),
        history=read_history(root),
        dirs=template_dirs(office.templates),
    )
