"""render(): the per-node role variables of docs/contracts.md, from the example requests."""

from __future__ import annotations

from opdhost.apply.render import render
from opdhost.fleet.model import Request, parse_request
from opdhost.fleet.platform import Platform, load_platform, platform_path

from .conftest import REPO


def _examples() -> list[Request]:
    out = []
    for path in sorted((REPO / "requests").rglob("*.yaml")):
        req, found = parse_request(path.read_bytes(), str(path.relative_to(REPO)))
        assert not found, found
        assert req is not None
        out.append(req)
    return out


def test_web_node_gets_every_site_with_contract_fields(lab_platform: Platform) -> None:
    nodes = render(_examples(), lab_platform).nodes
    web1 = nodes["web1"]
    sites = web1["apache_vhost_sites"]
    assert isinstance(sites, list)
    disdik = next(s for s in sites if s["site"] == "disdik")
    assert disdik == {
        "site": "disdik",
        "fqdn": "disdik.kab-contoh.go.id",
        "aliases": ["www.disdik.kab-contoh.go.id"],
        "ip": "10.203.0.100",
        "runtime": "php",
        "status": "active",
        "user": "s-disdik",
        "storage_mb": 2048,
        "tls": True,
        "hsts": False,
        "sftp_keys": [],
        "database": {
            "engine": "mariadb",
            "host": "10.203.0.21",
            "port": 3306,
            "name": "disdik",
            "user": "disdik",
            "db_node": "db1",
        },
    }
    assert [s["site"] for s in sites] == ["disdik", "perizinan", "ppdb", "renbang", "sehat"]
    assert "apache_vhost_only" not in web1  # apply.plan_work sets it, from the digests
    assert web1["bandwidth_interface"] == "eth0"
    assert web1["apache_vhost_interface"] == "eth0"
    assert {"site": "ppdb", "ip": "10.203.0.101", "bandwidth_mbit": 50, "status": "active"} in (
        web1["bandwidth_sites"]  # type: ignore[operator]
    )


def test_database_node_lists_only_sites_with_a_database(lab_platform: Platform) -> None:
    db1 = render(_examples(), lab_platform).nodes["db1"]
    sites = db1["database_sites"]
    assert isinstance(sites, list)
    assert [s["site"] for s in sites] == ["disdik", "perizinan", "ppdb", "sehat"]
    ppdb = next(s for s in sites if s["site"] == "ppdb")
    assert ppdb == {
        "site": "ppdb",
        "engine": "postgresql",
        "name": "ppdb",
        "user": "ppdb_app",
        "quota_mb": 2048,
        "status": "active",
        "client_hosts": ["10.203.0.11"],
    }
    perizinan = next(s for s in sites if s["site"] == "perizinan")
    assert perizinan["status"] == "suspended"


def test_dns_records_a_plus_cname_per_alias_and_roles(lab_platform: Platform) -> None:
    nodes = render(_examples(), lab_platform).nodes
    ns1, ns2 = nodes["ns1"], nodes["ns2"]
    assert ns1["dns_zone_role"] == "primary"
    assert ns2["dns_zone_role"] == "secondary"
    assert ns2["dns_zone_primary_host"] == "ns1"  # the secondary finds its primary by name
    assert ns1["dns_zone_name"] == "kab-contoh.go.id"
    assert ns1["dns_zone_primary"] == "10.203.0.31"
    assert ns1["dns_zone_secondaries"] == ["10.203.0.32"]
    # the secondary transfers the records: it is given none, so a new record does not visit it
    assert ns2["dns_zone_records"] == [] and ns2["dns_zone_static_records"] == []
    records = ns1["dns_zone_records"]
    assert {"name": "sehat", "type": "A", "value": "10.203.0.102"} in records  # type: ignore[operator]
    assert {"name": "www.sehat", "type": "CNAME", "value": "sehat"} in records  # type: ignore[operator]
    assert {"name": "dinkes", "type": "CNAME", "value": "sehat"} in records  # type: ignore[operator]
    # suspended sites keep their DNS (they answer 503), so perizinan is still there
    assert {"name": "perizinan", "type": "A", "value": "10.203.0.104"} in records  # type: ignore[operator]
    static = ns1["dns_zone_static_records"]
    assert {"name": "@", "type": "NS", "value": "ns1.kab-contoh.go.id."} in static  # type: ignore[operator]


def test_decommissioned_site_leaves_dns_but_stays_for_the_roles(lab_platform: Platform) -> None:
    reqs = _examples()
    text = (
        (REPO / "requests/bappeda/renbang.yaml")
        .read_text()
        .replace("status: active", "status: decommissioned")
    )
    gone, found = parse_request(text.encode(), "requests/bappeda/renbang.yaml")
    assert gone is not None and not found
    reqs = [r for r in reqs if r.site != "renbang"] + [gone]
    nodes = render(reqs, lab_platform).nodes
    names = [r["name"] for r in nodes["ns1"]["dns_zone_records"]]  # type: ignore[attr-defined]
    assert "renbang" not in names
    vhosts = nodes["web1"]["apache_vhost_sites"]
    assert {"site": "renbang", "status": "decommissioned"}.items() <= next(
        v
        for v in vhosts
        if v["site"] == "renbang"  # type: ignore[attr-defined]
    ).items()


def test_inventories_load_and_the_lab_matches_the_contract() -> None:
    production = load_platform(platform_path(REPO, "production"))
    assert set(production.web_nodes) == {"web1", "web2"}
    lab = load_platform(platform_path(REPO, "lab"))
    web1 = lab.web_nodes["web1"]
    assert (web1.address, str(web1.pool.first), str(web1.pool.last)) == (
        "10.203.0.11",
        "10.203.0.100",
        "10.203.0.199",
    )
    assert str(web1.pool.network) == "10.203.0.0/24" and str(web1.pool.gateway) == "10.203.0.1"
    web2 = lab.web_nodes["web2"]
    assert (web2.address, str(web2.pool.first), str(web2.pool.last)) == (
        "10.203.0.12",
        "10.203.0.200",
        "10.203.0.249",
    )
    both = [("db1", "10.203.0.21"), ("db2", "10.203.0.22")]
    assert {e: [(s.node, s.address) for s in listed] for e, listed in lab.db_servers.items()} == {
        "mariadb": both,
        "postgresql": both,
    }
    assert (lab.dns_primary.node, lab.dns_primary.address) == ("ns1", "10.203.0.31")
    assert [(s.node, s.address) for s in lab.dns_secondaries] == [("ns2", "10.203.0.32")]
    assert lab.zone == "kab-contoh.go.id"
