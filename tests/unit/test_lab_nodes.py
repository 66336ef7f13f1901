"""The lab's pure rules: container arguments, reuse/recreate decisions, health, contract."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml
from opdhost.lab import ssh as lab_ssh
from opdhost.lab.nodes import (
    GATEWAY,
    IMAGE,
    IP_RANGE,
    LABEL,
    NETWORK,
    NODES,
    SPEC_LABEL,
    SUBNET,
    NodeStatus,
    parse_is_active,
    recreate_reason,
    run_args,
    spec_hash,
)

REPO = Path(__file__).resolve().parents[2]
BY_NAME = {n.name: n for n in NODES}


def _info(node_name: str, image_id: str = "img1", **over: Any) -> dict[str, Any]:
    """A `podman container inspect` record as the lab itself would have made it."""
    node = BY_NAME[node_name]
    labels = {LABEL: "1", SPEC_LABEL: spec_hash(node, image_id)}
    info: dict[str, Any] = {
        "State": {"Status": over.get("state", "running")},
        "Config": {"Labels": over.get("labels", labels)},
        "NetworkSettings": {
            "Networks": {NETWORK: {"IPAddress": over.get("address", node.address)}}
        },
    }
    return info


def test_run_args_pin_name_address_systemd_and_image() -> None:
    args = run_args(BY_NAME["db1"], "img1")
    assert args[args.index("--name") + 1] == "opdhost-lab-db1"
    assert args[args.index("--hostname") + 1] == "db1"
    assert args[args.index("--network") + 1] == f"{NETWORK}:ip=10.203.0.21,mac=02:6f:0a:cb:00:15"
    assert args[args.index("--systemd") + 1] == "always"
    assert args[-2:] == [IMAGE, "/sbin/init"]
    assert "--cap-add" not in args


def test_the_lab_has_two_nodes_per_web_and_database_role() -> None:
    assert [n.name for n in NODES] == ["web1", "web2", "db1", "db2", "ns1", "ns2"]
    assert BY_NAME["web2"].services == BY_NAME["web1"].services
    assert BY_NAME["db2"].services == BY_NAME["db1"].services


def test_only_the_web_nodes_get_net_admin_sys_admin_and_a_quota_fs() -> None:
    with_cap = [n.name for n in NODES if "NET_ADMIN" in run_args(n, "i")]
    assert with_cap == ["web1", "web2"]
    assert [n.name for n in NODES if "SYS_ADMIN" in n.caps] == ["web1", "web2"]
    assert {n.name: n.quota_paths for n in NODES if n.quota_paths} == {
        "web1": ("/srv/www",),
        "web2": ("/srv/www",),
    }
    # each its own image and mount point on the host
    images = {fs.image for n in NODES for fs in n.quota_filesystems}
    assert len(images) == 2


def test_healthy_container_is_reused() -> None:
    assert recreate_reason(BY_NAME["ns1"], _info("ns1"), "img1") == ""


@pytest.mark.parametrize(
    ("over", "image", "reason"),
    [
        ({"state": "exited"}, "img1", "container is exited"),
        ({"state": "created"}, "img1", "container is created"),
        ({"labels": {}}, "img1", "not made by `opdhost lab`"),
        ({}, "img2", "image or settings changed"),
        ({"address": "10.203.0.99"}, "img1", "wrong address"),
    ],
)
def test_broken_or_stale_container_is_recreated(
    over: dict[str, Any], image: str, reason: str
) -> None:
    assert recreate_reason(BY_NAME["ns2"], _info("ns2", **over), image) == reason


@pytest.mark.parametrize("systemd", ["maintenance", "stopping", "offline", ""])
def test_container_whose_systemd_cannot_start_services_is_recreated(systemd: str) -> None:
    reason = recreate_reason(BY_NAME["web1"], _info("web1"), "img1", systemd)
    assert reason.startswith("systemd is ")


@pytest.mark.parametrize("systemd", ["initializing", "starting", "running", "degraded"])
def test_container_still_booting_or_degraded_is_reused(systemd: str) -> None:
    assert recreate_reason(BY_NAME["web1"], _info("web1"), "img1", systemd) == ""


def test_spec_hash_changes_with_image_and_address() -> None:
    web1 = BY_NAME["web1"]
    assert spec_hash(web1, "a") != spec_hash(web1, "b")
    assert spec_hash(web1, "a") != spec_hash(BY_NAME["db1"], "a")


def test_parse_is_active_maps_in_order_and_treats_missing_as_inactive() -> None:
    services = ("apache2", "php8.2-fpm", "ssh")
    assert parse_is_active(services, "active\ninactive\n") == {
        "apache2": True,
        "php8.2-fpm": False,
        "ssh": False,
    }


def test_node_is_healthy_only_when_running_on_its_address_with_all_services() -> None:
    db1 = BY_NAME["db1"]
    all_up = {"mariadb": True, "postgresql": True, "postgresql@15-main": True, "ssh": True}
    assert NodeStatus(db1, "running", db1.address, all_up).healthy
    cluster_down = {**all_up, "postgresql@15-main": False}
    assert not NodeStatus(db1, "running", db1.address, cluster_down).healthy
    assert not NodeStatus(db1, "exited", db1.address, all_up).healthy
    assert not NodeStatus(db1, "running", "10.203.0.2", all_up).healthy


def test_nodes_match_the_lab_platform_and_inventory() -> None:
    """docs/contracts.md, the platform vars and the inventory must name the same nodes."""
    platform = yaml.safe_load((REPO / "inventories/lab/group_vars/all/platform.yml").read_text())
    hosts = yaml.safe_load((REPO / "inventories/lab/hosts.yml").read_text())
    groups = hosts["all"]["children"]
    web = platform["opdhost_web_nodes"]
    assert {name: node["address"] for name, node in web.items()} == {
        "web1": BY_NAME["web1"].address,
        "web2": BY_NAME["web2"].address,
    }
    # db1 and db2 each serve both engines
    for listed in platform["opdhost_db_servers"].values():
        assert [(s["node"], s["address"]) for s in listed] == [
            ("db1", BY_NAME["db1"].address),
            ("db2", BY_NAME["db2"].address),
        ]
    assert platform["opdhost_dns"]["primary"]["address"] == BY_NAME["ns1"].address
    assert platform["opdhost_dns"]["secondaries"][0]["address"] == BY_NAME["ns2"].address
    assert set(groups["web"]["hosts"]) == {"web1", "web2"}
    assert set(groups["db"]["hosts"]) == {"db1", "db2"}
    dns = groups["dns"]["children"]
    assert set(dns["dns_primary"]["hosts"]) == {"ns1"}
    assert set(dns["dns_secondary"]["hosts"]) == {"ns2"}
    # dns_zone_role comes from one place, opdhost's render (from opdhost_dns), not the inventory
    assert all("dns_zone_role" not in (h or {}) for g in dns.values() for h in g["hosts"].values())
    for group in (groups["web"], groups["db"], dns["dns_primary"], dns["dns_secondary"]):
        for name, hostvars in group["hosts"].items():
            assert hostvars["ansible_host"] == BY_NAME[name].address


def test_inventory_reaches_every_node_over_ssh_with_the_key_lab_up_mounts() -> None:
    hosts = yaml.safe_load((REPO / "inventories/lab/hosts.yml").read_text())
    assert hosts["all"]["vars"]["ansible_connection"] == "ansible.builtin.ssh"
    assert hosts["all"]["vars"]["ansible_ssh_private_key_file"] == str(lab_ssh.KEY)
    assert all("ssh" in node.services for node in NODES)


def test_run_args_mount_the_public_key_read_only_and_a_new_key_recreates(tmp_path: Path) -> None:
    key = lab_ssh.ensure_key(tmp_path / "lab" / "id_ed25519")
    public = tmp_path / "lab" / "id_ed25519.pub"
    assert key.path == public and public.read_text().startswith("ssh-ed25519 ")
    assert lab_ssh.ensure_key(tmp_path / "lab" / "id_ed25519") == key  # made once, kept
    args = run_args(BY_NAME["ns1"], "img1", key)
    assert args[args.index("--volume") + 1] == f"{public}:/root/.ssh/authorized_keys:ro"
    made_with = {LABEL: "1", SPEC_LABEL: spec_hash(BY_NAME["ns1"], "img1", key.id)}
    info = _info("ns1", labels=made_with)
    assert recreate_reason(BY_NAME["ns1"], info, "img1", ssh_key_id=key.id) == ""
    other = lab_ssh.key_id("ssh-ed25519 another")
    assert recreate_reason(BY_NAME["ns1"], info, "img1", ssh_key_id=other) == (
        "image or settings changed"
    )


def test_addresses_sit_in_the_subnet_and_dynamic_leases_avoid_the_site_pools() -> None:
    platform = yaml.safe_load((REPO / "inventories/lab/group_vars/all/platform.yml").read_text())
    subnet = ipaddress.IPv4Network(SUBNET)
    dynamic = ipaddress.IPv4Network(IP_RANGE)
    assert ipaddress.IPv4Address(GATEWAY) in subnet
    ranges = []
    for web in platform["opdhost_web_nodes"].values():
        pool = web["pool"]
        assert pool["network"] == SUBNET
        first, last = ipaddress.IPv4Address(pool["first"]), ipaddress.IPv4Address(pool["last"])
        assert first in subnet and last in subnet
        assert not (dynamic[0] <= first <= dynamic[-1] or dynamic[0] <= last <= dynamic[-1])
        for node in NODES:
            assert ipaddress.IPv4Address(node.address) in subnet
            assert not first <= ipaddress.IPv4Address(node.address) <= last
        ranges.append((first, last))
    (_, first_last), (second_first, _) = sorted(ranges)
    assert first_last < second_first  # the two pools do not overlap
