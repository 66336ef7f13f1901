"""What the bandwidth role promises: each site gets its allocated egress rate, in aggregate,
without slowing the others; a rate change touches only that site's class; the limits come back
after a network restart or a reboot.

Traffic goes only between this scenario's containers (client 10.212.0.20 -> web 10.212.0.x).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import testinfra
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
WEB_NAME = "mol-bw-web"
WEB_IP = "10.212.0.10"


class Site(NamedTuple):
    """A site of converge.yml and the test file it serves."""

    ip: str
    mbit: int
    file: str


SLOW = Site("10.212.0.100", 8, "20M")
FAST = Site("10.212.0.101", 50, "48M")
TOLERANCE = 0.10
APPLY_TASK = "Put the tc configuration in place and apply it"
SETUP_TASK = "Install tc, the helper, the unit and the hook"
STAMP = "/etc/opdhost/bandwidth/setup.sha256"
CONFIG = "/etc/opdhost/bandwidth/eth0.tc"
APPLY = "/usr/local/sbin/opdhost-bandwidth-apply"
FAST_CLASS = "1:65"
CLASS = re.compile(
    r"^class htb (?P<id>\S+) .*?(?:leaf (?P<leaf>\S+) )?prio \d+ rate (?P<rate>\S+) "
    r"ceil (?P<ceil>\S+).*?\n Sent (?P<bytes>\d+) bytes",
    re.MULTILINE | re.DOTALL,
)
CURL = (
    "curl -sS -o /dev/null -w '%{{size_download}} %{{time_starttransfer}} %{{time_total}}'"
    " http://{ip}/{file}"
)


@pytest.fixture(scope="module")
def web() -> testinfra.host.Host:
    return testinfra.get_host(f"podman://{WEB_NAME}")


@pytest.fixture(scope="module")
def client() -> testinfra.host.Host:
    return testinfra.get_host("podman://mol-bw-client")


def classes(web: testinfra.host.Host) -> dict[str, dict[str, Any]]:
    """The live HTB classes of eth0: rate, ceil, leaf qdisc handle, bytes sent."""
    out = web.check_output("tc -s class show dev eth0")
    return {
        m["id"]: {"rate": m["rate"], "ceil": m["ceil"], "leaf": m["leaf"], "bytes": int(m["bytes"])}
        for m in CLASS.finditer(out)
    }


def curl(site: Site) -> str:
    """The client's command that downloads the site's test file and prints size and time."""
    return CURL.format(ip=site.ip, file=site.file)


class Download(NamedTuple):
    """What curl reports: bytes, seconds to the first byte, seconds in all."""

    size: int
    first_byte: float
    total: float

    @classmethod
    def parse(cls, curl_output: str) -> Download:
        size, first_byte, total = curl_output.split()
        return cls(int(size), float(first_byte), float(total))

    @property
    def seconds(self) -> float:
        """Time the body took: the shaped part (connecting and the request are not)."""
        return self.total - self.first_byte

    @property
    def mbit(self) -> float:
        """Goodput in Mbit/s while the body flowed."""
        return self.size * 8 / self.seconds / 1e6


def run_converge(extra_vars: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Re-run the scenario's converge with extra vars; return its exit code and JSON report."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    env.setdefault("ANSIBLE_ROLES_PATH", str(SCENARIO.parents[1] / "roles"))
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            str(SCENARIO / "converge.yml"),
            "-e",
            json.dumps(extra_vars),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, dict(json.loads(done.stdout))


def task_results(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The web node's results of the role task called ``name``, in order (an included task
    file's task appears once per inclusion)."""
    tasks = [t for t in report["plays"][0]["tasks"] if t["task"]["name"].endswith(name)]
    return [dict(t["hosts"][WEB_NAME]) for t in tasks if WEB_NAME in t["hosts"]]


def task_result(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The web node's last result of the role task called ``name``."""
    return task_results(report, name)[-1]


def converge(sites: list[dict[str, Any]]) -> dict[str, Any]:
    """Re-run the converge with other sites; return the apply helper's JSON."""
    rc, report = run_converge({"bandwidth_sites": sites})
    assert rc == 0, json.dumps(report)[-3000:]
    return dict(task_result(report, APPLY_TASK)["apply"])


def converge_sites() -> list[dict[str, Any]]:
    """The sites converge.yml applies (the verifier varies them)."""
    play = yaml.safe_load((SCENARIO / "converge.yml").read_text())[0]
    return list(play["vars"]["bandwidth_sites"])


def test_unit_enabled_and_active(web: testinfra.host.Host) -> None:
    unit = web.service("opdhost-bandwidth@eth0")
    assert unit.is_enabled
    assert unit.is_running


def test_one_class_per_kept_site_rate_equals_ceil(web: testinfra.host.Host) -> None:
    live = classes(web)
    # 1:66 is suspended (kept, and its IP is not even on eth0); 1:67 is decommissioned.
    wanted = {"1:64": "8Mbit", "1:65": "50Mbit", "1:66": "20Mbit", "1:ffff": "1Gbit"}
    assert {cid: c["rate"] for cid, c in live.items()} == wanted
    assert all(c["rate"] == c["ceil"] for c in live.values())
    assert "qdisc htb 1: root" in web.check_output("tc qdisc show dev eth0 root")
    assert "default 0xffff" in web.check_output("tc qdisc show dev eth0 root")


def test_filters_hash_on_last_octet_of_source(web: testinfra.host.Host) -> None:
    out = web.check_output("tc filter show dev eth0")
    assert "fh 100: ht divisor 256" in out
    assert "hash mask 000000ff at 12" in out
    # one exact source match per kept site, in the bucket of its last octet (hex)
    for bucket, classid in (("64", "1:64"), ("65", "1:65"), ("66", "1:66")):
        assert re.search(
            rf"fh 100:{bucket}:\S+ .*bkt {bucket} \*?flowid {classid} .*\n"
            rf"\s+match 0ad400{bucket}/ffffffff at 12",
            out,
        ), out
    assert "0ad40067" not in out  # the decommissioned site has no filter


def test_limited_site_gets_its_rate_and_does_not_slow_another(
    web: testinfra.host.Host, client: testinfra.host.Host
) -> None:
    before = classes(web)
    out = client.check_output(
        f"{curl(SLOW)} > /tmp/slow & {curl(FAST)} > /tmp/fast & wait;"
        " cat /tmp/slow; echo; cat /tmp/fast"
    )
    after = classes(web)
    slow, fast = (Download.parse(line) for line in out.split("\n"))
    slow_wire = (after["1:64"]["bytes"] - before["1:64"]["bytes"]) * 8 / slow.seconds / 1e6
    print(
        f"\nMEASURED 8 Mbit/s site: {slow.size} B in {slow.seconds:.2f} s ({slow.total:.2f} s"
        f" with connect + request) = {slow.mbit:.2f} Mbit/s goodput, {slow_wire:.2f} Mbit/s"
        f" counted by its class; 50 Mbit/s site at the same time: {fast.size} B in"
        f" {fast.seconds:.2f} s ({fast.total:.2f} s) = {fast.mbit:.2f} Mbit/s goodput"
    )
    assert slow.size >= 20 * 10**6
    assert abs(slow.mbit - SLOW.mbit) <= TOLERANCE * SLOW.mbit, slow
    assert abs(fast.mbit - FAST.mbit) <= TOLERANCE * FAST.mbit, fast


def test_other_traffic_is_not_held_to_a_site_limit(client: testinfra.host.Host) -> None:
    rate = Download.parse(client.check_output(CURL.format(ip=WEB_IP, file=FAST.file))).mbit
    print(f"\nMEASURED non-site traffic (default class): {rate:.1f} Mbit/s")
    assert rate > 2 * FAST.mbit, rate


@pytest.fixture
def original_restored(web: testinfra.host.Host) -> Iterator[None]:
    """Put the converged configuration back afterwards, as converge.yml would render it."""
    web.check_output(f"cp {CONFIG} /root/bw-converged.tc")
    yield
    web.check_output(f"mv /root/bw-converged.tc {CONFIG} && {APPLY} eth0")
    assert classes(web)[FAST_CLASS]["rate"] == f"{FAST.mbit}Mbit"


def test_rate_change_touches_only_that_class(
    web: testinfra.host.Host,
    client: testinfra.host.Host,
    original_restored: None,
) -> None:
    for site in (SLOW, FAST):  # some traffic, so that a reset counter would show
        # http.server ignores Range: read the start of the file and hang up
        client.check_output(f"curl -sS http://{site.ip}/{site.file} | head -c 300000 > /dev/null")
    before = classes(web)
    assert before["1:64"]["bytes"] > 0 and before["1:65"]["bytes"] > 0
    changed = [dict(s, bandwidth_mbit=40) if s["ip"] == FAST.ip else s for s in converge_sites()]

    result = converge(changed)

    after = classes(web)
    assert result["action"] == "update", result
    assert len(result["commands"]) == 1
    assert result["commands"][0].startswith("class change dev eth0 parent 1: classid 1:65 ")
    assert after["1:65"]["rate"] == "40Mbit"
    assert set(after) == set(before)
    for classid, was in before.items():
        assert after[classid]["leaf"] == was["leaf"], classid  # same queue, not recreated
        assert after[classid]["bytes"] >= was["bytes"], classid  # counters kept
        if classid != "1:65":
            assert after[classid]["rate"] == was["rate"], classid


def test_bad_input_is_refused_whole_before_anything_changes(web: testinfra.host.Host) -> None:
    config = web.file(CONFIG).content_string
    sites = [
        *converge_sites(),
        {"site": "clash", "ip": "10.99.0.100", "bandwidth_mbit": 10},  # same class as disdik
        {"site": "typo", "ip": "10.212.0.300", "bandwidth_mbit": 10},
        # a trailing newline (Python's `$` matches before it): would add a line to the tc file
        {"site": "dinas\n", "ip": "10.212.0.110", "bandwidth_mbit": 10},
    ]

    rc, report = run_converge(
        {
            "bandwidth_sites": sites,
            "bandwidth_interface": "eth0\n",
            "bandwidth_state_dir": "/run/opdhost-bandwidth\n",
        }
    )

    assert rc != 0
    message = str(task_result(report, "before anything changes)")["msg"])
    assert "site clash: ip 10.99.0.100 shares class 1:64 with site disdik" in message
    assert "site typo: ip '10.212.0.300' is not an IPv4 address" in message
    assert "site 'dinas\\n' is not a DNS label" in message, message
    assert "bandwidth_interface 'eth0\\n' is not an interface name" in message, message
    assert "bandwidth_state_dir '/run/opdhost-bandwidth\\n' is not a plain absolute" in message
    assert web.file(CONFIG).content_string == config
    assert set(classes(web)) == {"1:64", "1:65", "1:66", "1:ffff"}


def test_a_configuration_tc_refuses_changes_nothing(web: testinfra.host.Host) -> None:
    # a leaf queue this kernel lacks (the lab's has neither fq_codel nor sfq)
    missing = next(
        (
            q
            for q in ("fq_codel", "sfq")
            if web.run(f"tc qdisc add dev lo root handle 1: {q} && tc qdisc del dev lo root").rc
        ),
        None,
    )
    if missing is None:
        pytest.skip("this kernel has every leaf qdisc the role offers")
    before, config = classes(web), web.file(CONFIG).content_string

    rc, report = run_converge({"bandwidth_leaf_qdisc": missing})

    assert rc != 0
    assert "qdisc kind is unknown" in json.dumps(task_result(report, APPLY_TASK))
    assert web.file(CONFIG).content_string == config  # the next boot applies the good one
    after = classes(web)
    assert {c: (v["rate"], v["leaf"]) for c, v in after.items()} == {
        c: (v["rate"], v["leaf"]) for c, v in before.items()
    }


FAILING_TC = r"""#!/bin/sh
# Test fault, in front of /usr/sbin/tc: the kernel refuses the new site's class at eth0 half-way
# through the batch (the ifb check before the file is written passes: its device is not eth0).
if [ "$1" = -batch ]; then
    input=$(cat)
    case "$input" in *"dev eth0 parent 1: classid 1:68 "*)
        printf '%s\n' "$input" | sed '/classid 1:68 /,$d' | /usr/sbin/tc -batch -
        echo 'RTNETLINK answers: No space left on device' >&2
        exit 1 ;;
    esac
    printf '%s\n' "$input" | exec /usr/sbin/tc -batch -
fi
exec /usr/sbin/tc "$@"
"""
LAST_GOOD = "/etc/opdhost/bandwidth/eth0.last-good.tc"


def test_a_full_apply_that_fails_keeps_the_last_good_rules(
    web: testinfra.host.Host, client: testinfra.host.Host
) -> None:
    before, config = classes(web), web.file(CONFIG).content_string
    filters = web.check_output("tc filter show dev eth0")
    new_site = {"site": "disperindag", "ip": "10.212.0.104", "bandwidth_mbit": 30}
    web.check_output(
        f"cat > /usr/local/sbin/tc <<'EOF'\n{FAILING_TC}EOF\nchmod 0755 /usr/local/sbin/tc"
    )
    try:
        rc, report = run_converge({"bandwidth_sites": [*converge_sites(), new_site]})
    finally:
        web.check_output("rm -f /usr/local/sbin/tc")

    assert rc != 0
    result = task_result(report, APPLY_TASK)["apply"]
    assert result["failed"] and result["restored"], result
    assert "No space left on device" in result["msg"]
    assert "the last good configuration is back in force on eth0" in result["msg"]
    # the previous classes, queues and filters, and nothing of the failed change
    after = classes(web)
    assert {c: v["rate"] for c, v in after.items()} == {c: v["rate"] for c, v in before.items()}
    assert web.check_output("tc filter show dev eth0").count("flowid") == filters.count("flowid")
    assert "0ad40068" not in web.check_output("tc filter show dev eth0")
    # ... and they still shape: the 8 Mbit/s site's class counts its traffic and holds it
    got = client.run(
        f"curl -sS -o /dev/null --max-time 3 -w '%{{size_download}}' http://{SLOW.ip}/{SLOW.file}"
    )
    size = int(got.stdout.strip() or 0)
    assert 0 < size <= 3 * SLOW.mbit * 1.15 * 10**6 / 8, got
    assert classes(web)["1:64"]["bytes"] - after["1:64"]["bytes"] >= size
    # the boot unit brings up the last good file, not the one that failed
    assert web.file(LAST_GOOD).content_string == config
    assert "1:68" in web.file(CONFIG).content_string
    web.check_output("tc qdisc del dev eth0 root && systemctl restart opdhost-bandwidth@eth0")
    assert set(classes(web)) == set(before)
    # back to converge.yml's sites: what is live is already that
    assert converge(converge_sites())["action"] == "none"
    assert web.file(LAST_GOOD).content_string == web.file(CONFIG).content_string == config


def test_restored_after_a_network_restart(web: testinfra.host.Host) -> None:
    # networking.service is ifupdown's; the container has none, so stand one in for it.
    web.check_output(
        "printf '[Service]\\nType=oneshot\\nRemainAfterExit=yes\\nExecStart=/bin/true\\n'"
        " > /etc/systemd/system/networking.service && systemctl daemon-reload"
        " && systemctl start networking && systemctl restart opdhost-bandwidth@eth0"
    )
    try:
        web.check_output("tc qdisc del dev eth0 root")
        assert "1:64" not in classes(web)
        web.check_output("systemctl restart networking")
        # the propagated restart (PartOf) may finish just after systemctl returns
        deadline = time.monotonic() + 15
        while "1:64" not in classes(web) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert classes(web)["1:64"]["rate"] == "8Mbit"
    finally:
        web.run("systemctl stop networking; rm -f /etc/systemd/system/networking.service")
        web.run("systemctl daemon-reload")


def test_drift_is_repaired_by_the_unit_without_a_rebuild(web: testinfra.host.Host) -> None:
    leaf = classes(web)["1:64"]["leaf"]
    web.check_output("tc class change dev eth0 parent 1: classid 1:64 htb rate 1mbit ceil 1mbit")
    web.check_output("systemctl restart opdhost-bandwidth@eth0")
    assert classes(web)["1:64"]["rate"] == "8Mbit"
    assert classes(web)["1:64"]["leaf"] == leaf


def test_restored_after_a_reboot(web: testinfra.host.Host) -> None:
    subprocess.run(["podman", "restart", "--time", "20", WEB_NAME], check=True, capture_output=True)
    deadline, state = time.monotonic() + 90, ""
    while state not in ("running", "degraded") and time.monotonic() < deadline:
        time.sleep(1)
        state = subprocess.run(
            ["podman", "exec", WEB_NAME, "systemctl", "is-system-running", "--wait"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    assert state in ("running", "degraded"), state
    assert web.service("opdhost-bandwidth@eth0").is_enabled
    live = classes(web)
    assert live["1:64"]["rate"] == "8Mbit" and live["1:65"]["rate"] == "50Mbit", live


def test_a_narrowed_run_on_a_stamped_node_is_one_call(web: testinfra.host.Host) -> None:
    """A run for some sites (opdhost apply of one change) writes and applies in the call that
    reads the setup stamp; without the stamp (or with another setup) it checks the setup first."""
    faster = [{**s, "bandwidth_mbit": 12} if s["site"] == "disdik" else s for s in converge_sites()]
    stamp = web.file(STAMP).content_string  # written by the full converges above

    rc, report = run_converge({"bandwidth_sites": faster, "bandwidth_only": ["disdik"]})

    assert rc == 0, json.dumps(report)[-3000:]
    calls = [r for r in task_results(report, APPLY_TASK) if not r.get("skipped")]
    assert len(calls) == 1, calls
    assert calls[0]["changed"] and not calls[0]["setup_needed"], calls
    assert calls[0]["apply"]["action"] == "update", calls
    assert task_result(report, SETUP_TASK).get("skipped")
    assert classes(web)["1:64"]["rate"] == "12Mbit"

    web.check_output(f"rm {STAMP}")  # as after a run that died before its end
    rc, report = run_converge({"bandwidth_sites": converge_sites(), "bandwidth_only": ["disdik"]})

    assert rc == 0, json.dumps(report)[-3000:]
    first, second = task_results(report, APPLY_TASK)
    assert first["setup_needed"] and not first["changed"], first
    assert not task_result(report, SETUP_TASK).get("skipped")
    assert second["changed"] and not second["setup_needed"], second
    assert classes(web)["1:64"]["rate"] == "8Mbit"
    assert web.file(STAMP).content_string == stamp
