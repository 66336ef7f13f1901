"""Helpers for the apache_vhost verifier: HTTP(S) requests made from inside the web node."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pytest
import testinfra

NODE = "mol-apache-web"
ZONE = "kab-contoh.go.id"
CA = "/etc/ssl/opdhost/ca.crt"


@dataclass(frozen=True)
class Reply:
    """What curl saw: the status code, the headers and the body."""

    status: int
    headers: str
    body: str

    def header(self, name: str) -> list[str]:
        """Every value of the response header `name` (case-insensitive), in order."""
        values = []
        for line in self.headers.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == name.lower():
                values.append(value.strip())
        return values


def fetch(
    host: testinfra.host.Host, name: str, ip: str, *, https: bool = False, path: str = "/"
) -> Reply:
    """Request http(s)://name/path from the node, resolving name to ip (SNI and Host = name).

    With https the certificate must chain to the lab CA and carry the name, or curl fails.
    """
    port = 443 if https else 80
    scheme = "https" if https else "http"
    cmd = (
        f"curl -sS --max-time 10 --cacert {CA} --resolve {name}:{port}:{ip} "
        f"-D /tmp/mol-headers -o /tmp/mol-body -w '%{{http_code}}' "
        f"{shlex.quote(f'{scheme}://{name}{path}')}"
    )
    out = host.run(cmd)
    assert out.rc == 0, f"{cmd}: {out.stderr}"
    return Reply(
        status=int(out.stdout.strip()),
        headers=host.file("/tmp/mol-headers").content_string,
        body=host.file("/tmp/mol-body").content_string,
    )


@pytest.fixture(scope="module")
def node() -> testinfra.host.Host:
    """The web node, through podman exec (fast)."""
    return testinfra.get_host(f"podman://{NODE}")
