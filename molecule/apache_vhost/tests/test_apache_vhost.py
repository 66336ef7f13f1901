"""What the agencies and the office rely on after apache_vhost ran on a web node.

State under test (prepare, converge, side_effect): disdik (php, tls, www alias) and dinkes
(static, tls) created today, bappeda suspended, arsip decommissioned, dispar added alone with
apache_vhost_only, and a broken change that was refused.
"""

from __future__ import annotations

import re
import subprocess
import time

import testinfra
from conftest import CA, ZONE, fetch

DISDIK = ("disdik", "10.211.0.100")
DINKES = ("dinkes", "10.211.0.101")
BAPPEDA = ("bappeda", "10.211.0.102")
ARSIP = ("arsip", "10.211.0.103")
DISPAR = ("dispar", "10.211.0.104")
SSH_OPTS = (
    "-i /root/.ssh/mol_disdik -o BatchMode=yes -o StrictHostKeyChecking=no "
    "-o UserKnownHostsFile=/dev/null -o ConnectTimeout=10"
)


def test_sites_answer_by_name_alias_and_ip(node: testinfra.host.Host) -> None:
    page = fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True)
    assert page.status == 200
    assert "Dinas Pendidikan" in page.body
    alias = fetch(node, f"www.disdik.{ZONE}", DISDIK[1], https=True)
    assert alias.status == 200 and "Dinas Pendidikan" in alias.body
    # By IP (no name of the site): plain HTTP sends the browser to the site's own name.
    by_ip = node.run(
        f"curl -sS --max-time 10 -L --cacert {CA} --resolve dinkes.{ZONE}:443:{DINKES[1]} "
        f"http://{DINKES[1]}/"
    )
    assert by_ip.rc == 0 and f"dinkes.{ZONE}" in by_ip.stdout  # the placeholder page


def test_https_uses_sni_and_a_certificate_for_the_site_names(node: testinfra.host.Host) -> None:
    for name, ip in (
        (f"disdik.{ZONE}", DISDIK[1]),
        (f"www.disdik.{ZONE}", DISDIK[1]),
        (f"dinkes.{ZONE}", DINKES[1]),
        (f"dispar.{ZONE}", DISPAR[1]),
    ):
        assert fetch(node, name, ip, https=True).status == 200, name
    sans = node.check_output(
        f"echo | openssl s_client -connect {DISDIK[1]}:443 -servername disdik.{ZONE} 2>/dev/null"
        " | openssl x509 -noout -ext subjectAltName"
    )
    assert f"DNS:disdik.{ZONE}" in sans and f"DNS:www.disdik.{ZONE}" in sans


def test_ca_key_stays_root_only(node: testinfra.host.Host) -> None:
    ca_dir = node.file("/etc/opdhost/ca")
    assert ca_dir.user == "root" and ca_dir.mode == 0o700
    key = node.file("/etc/opdhost/ca/ca.key")
    assert key.user == "root" and key.mode == 0o600
    assert node.file("/etc/ssl/opdhost/private/disdik.key").mode == 0o600


def test_php_runs_as_the_site_user(node: testinfra.host.Host) -> None:
    page = fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True, path="/whoami.php")
    assert page.status == 200
    assert page.body.strip() == "s-disdik"
    pools = node.file("/etc/php/8.2/fpm/pool.d/opdhost-sites.conf").content_string
    assert "[opdhost-disdik]" in pools and "[opdhost-dispar]" in pools
    assert "[opdhost-dinkes]" not in pools, "static sites get no PHP"
    assert "[opdhost-bappeda]" not in pools, "suspended sites run no PHP"


def test_php_fpm_can_hold_a_pool_for_every_site_of_a_full_node(node: testinfra.host.Host) -> None:
    """One listening socket per pool in the master: under systemd's default 1,024 open files
    PHP-FPM failed to start from about its 1,016th pool (seen on the benchmark's fleet of 1,113)."""
    master = node.check_output("systemctl show -p MainPID --value php8.2-fpm").strip()
    limits = node.file(f"/proc/{master}/limits").content_string
    soft = re.search(r"^Max open files\s+(\d+)", limits, re.MULTILINE)
    assert soft is not None and int(soft.group(1)) >= 2 * 2000, limits  # the platform's capacity


def test_one_site_cannot_read_another(node: testinfra.host.Host) -> None:
    page = fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True, path="/peek.php")
    assert page.body.strip() == "DENIED"
    direct = node.run("runuser -u s-disdik -- cat /srv/www/dinkes/public/index.html")
    assert direct.rc != 0 and "Permission denied" in direct.stderr
    docroot = node.file("/srv/www/dinkes/public")
    assert (docroot.user, docroot.group, docroot.mode) == ("s-dinkes", "www-data", 0o2750)


def test_htaccess_cannot_borrow_another_sites_php(node: testinfra.host.Host) -> None:
    page = fetch(node, f"dinkes.{ZONE}", DINKES[1], https=True, path="/sneaky/x.php")
    assert page.status == 500  # SetHandler is not allowed in .htaccess
    assert "RAN AS" not in page.body
    rest = fetch(node, f"dinkes.{ZONE}", DINKES[1], https=True)
    assert rest.status == 200  # the rest of the site is fine


def test_sftp_is_jailed_to_the_site(node: testinfra.host.Host) -> None:
    node.run_expect([0], "printf 'hello from sftp\\n' > /tmp/mol-upload.txt")
    batch = (
        "pwd\\nls -a /\\nput /tmp/mol-upload.txt /public/upload.txt\\n"
        "-cd /etc\\n-get /etc/passwd /tmp/x\\n"
    )
    out = node.run(f"printf '{batch}' | sftp {SSH_OPTS} -b - s-disdik@{DISDIK[1]}")
    assert out.rc == 0, out.stderr
    assert "Remote working directory: /" in out.stdout
    assert "/public" in out.stdout and "/etc" not in out.stdout.split("-cd")[0]
    assert "No such file or directory" in out.stderr  # /etc does not exist in the jail
    uploaded = node.file("/srv/www/disdik/public/upload.txt")
    assert uploaded.user == "s-disdik" and uploaded.mode == 0o640
    served = fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True, path="/upload.txt")
    assert served.body == "hello from sftp\n"
    shell = node.run(f"ssh {SSH_OPTS} s-disdik@{DISDIK[1]} id")
    assert "uid=" not in shell.stdout and "sftp connections only" in shell.stdout + shell.stderr
    home = node.file("/srv/www/disdik")
    assert (home.user, home.mode) == ("root", 0o755)
    # Only the request's keys open the account: not one planted in the home, not a password.
    keys = node.file("/etc/ssh/opdhost-keys/s-disdik")
    assert (keys.user, keys.mode) == ("root", 0o644)
    assert keys.content_string.count("\nrestrict ssh-ed25519 ") == 1
    planted = node.run(
        f"sftp {SSH_OPTS.replace('mol_disdik', 'mol_intruder')} -b /dev/null s-disdik@{DISDIK[1]}"
    )
    assert planted.rc != 0 and "Permission denied (publickey)" in planted.stderr
    other = node.run(f"sftp {SSH_OPTS} -b /dev/null s-dinkes@{DINKES[1]}")
    assert other.rc != 0 and "Permission denied (publickey)" in other.stderr


def test_suspended_site_answers_503_and_keeps_its_files(node: testinfra.host.Host) -> None:
    for https in (False, True):
        page = fetch(node, f"bappeda.{ZONE}", BAPPEDA[1], https=https)
        assert page.status == 503
        assert "sementara" in page.body
        assert "Retry-After" in page.headers
    assert fetch(node, f"www.bappeda.{ZONE}", BAPPEDA[1], path="/index.html").status == 503
    kept = node.file("/srv/www/bappeda/public/index.html")
    assert "Bappeda" in kept.content_string
    assert node.user("s-bappeda").exists


def test_decommissioned_site_is_gone_with_its_archive(node: testinfra.host.Host) -> None:
    assert not node.file("/srv/www/arsip").exists
    assert not node.user("s-arsip").exists
    assert not node.group("s-arsip").exists
    assert f" {ARSIP[1]}/" not in node.check_output("ip -o -4 addr show dev eth0")
    assert ARSIP[1] not in node.file("/etc/opdhost/site-ips.conf").content_string
    assert (
        "arsip" not in node.file("/etc/apache2/sites-available/opdhost-sites.conf").content_string
    )
    stale = node.run(
        f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: arsip.{ZONE}' http://127.0.0.1/"
    )
    assert stale.stdout == "404"
    archives = node.check_output("ls /var/backups/opdhost/sites").split()
    tarballs = [a for a in archives if re.fullmatch(r"arsip-\d{8}T\d{6}Z\.tar\.gz", a)]
    assert len(tarballs) == 1, archives
    assert f"{tarballs[0]}.sha256" in archives
    node.run_expect([0], f"cd /var/backups/opdhost/sites && sha256sum -c {tarballs[0]}.sha256")
    listing = node.check_output(f"tar -tzvf /var/backups/opdhost/sites/{tarballs[0]}")
    assert "arsip/public/laporan-2025.txt" in listing
    assert node.file(f"/var/backups/opdhost/sites/{tarballs[0]}").mode == 0o600


def test_access_logs_record_bytes_sent_per_site(node: testinfra.host.Host) -> None:
    fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True, path="/index.html")
    log = node.file("/srv/www/disdik/logs/access.log").content_string
    line = re.compile(
        rf"^disdik\.{re.escape(ZONE)} \S+ \S+ \S+ \[[^\]]+\] "
        rf'"GET /index.html HTTP/[\d.]+" 200 (\d+) (\d+) \d+ '
    )
    sent = [int(m.group(2)) for m in map(line.match, log.splitlines()) if m]
    assert sent and min(sent) > len("<h1>Dinas Pendidikan</h1>\n")  # %O counts headers too
    assert node.file("/srv/www/disdik/logs/error.log").exists
    assert node.file("/srv/www/dinkes/logs/access.log").exists
    # In the site's home for its agency (SFTP), root-owned so nobody can swap them for links;
    # readable through the directory by the site's own group only.
    for site in ("disdik", "dinkes"):
        for sub in ("logs", "private"):
            d = node.file(f"/srv/www/{site}/{sub}")
            assert (d.user, d.group, d.mode) == ("root", f"s-{site}", 0o750), sub
    node.run_expect([0], "logrotate --debug /etc/logrotate.d/opdhost-sites")


def test_refused_change_left_the_working_config(node: testinfra.host.Host) -> None:
    vhosts = node.file("/etc/apache2/sites-available/opdhost-sites.conf").content_string
    assert "wildcard-typo" not in vhosts
    assert "SSLCertificateFile /etc/ssl/opdhost/disdik.crt" in vhosts
    node.run_expect([0], "apache2ctl configtest")
    leftovers = node.check_output("ls -a /etc/apache2/sites-available")
    assert "~" not in leftovers, "no backup copies are left behind"
    assert node.service("apache2").is_running


def test_site_added_alone_is_served(node: testinfra.host.Host) -> None:
    page = fetch(node, f"www.dispar.{ZONE}", DISPAR[1], https=True)
    assert page.status == 200 and f"dispar.{ZONE}" in page.body
    assert node.user("s-dispar").exists
    addrs = node.check_output("ip -o -4 addr show dev eth0")
    assert f" {DISPAR[1]}/32 " in addrs
    assert " 10.211.0.105/" not in addrs, "the address of the refused attempt was not removed"


def test_drift_was_repaired_and_is_served(node: testinfra.host.Host) -> None:
    """side_effect broke four sites behind the role's back; a full run repaired them."""
    docroot = node.file("/srv/www/disdik/public")
    assert (docroot.user, docroot.group, docroot.mode) == ("s-disdik", "www-data", 0o2750)
    bappeda = node.user("s-bappeda")
    assert bappeda.exists and bappeda.group == "s-bappeda"
    assert bappeda.groups == ["s-bappeda", "opdhost-sftp"]
    assert node.file("/srv/www/bappeda/public").user == "s-bappeda"
    key = node.check_output("openssl pkey -in /etc/ssl/opdhost/private/dispar.key -noout -text")
    assert "prime256v1" in key or "P-256" in key
    for site, ip in (DINKES, DISPAR):
        served = node.check_output(
            f"echo | openssl s_client -connect {ip}:443 -servername {site}.{ZONE} 2>/dev/null"
            " | openssl x509 -noout -fingerprint -sha256"
        )
        on_disk = node.check_output(
            f"openssl x509 -in /etc/ssl/opdhost/{site}.crt -noout -fingerprint -sha256"
        )
        assert served == on_disk, f"{site}: Apache serves a certificate that is not on disk"
        node.run_expect(
            [0], f"openssl verify -CAfile /etc/ssl/opdhost/ca.crt /etc/ssl/opdhost/{site}.crt"
        )


def test_http_redirects_to_https_except_acme_challenges(node: testinfra.host.Host) -> None:
    """TLS sites answer port 80 with a permanent redirect to the name that was asked for."""
    for name in (f"disdik.{ZONE}", f"www.disdik.{ZONE}"):
        moved = fetch(node, name, DISDIK[1], path="/berita/2026?page=2")
        assert moved.status == 301, name
        assert moved.header("Location") == [f"https://{name}/berita/2026?page=2"]
    assert fetch(node, f"dispar.{ZONE}", DISPAR[1]).header("Location") == [
        f"https://dispar.{ZONE}/"
    ]
    token = fetch(node, f"disdik.{ZONE}", DISDIK[1], path="/.well-known/acme-challenge/mol-token")
    assert (token.status, token.body) == (200, "mol-acme-token\n")
    assert token.header("Strict-Transport-Security") == [], "HSTS is never sent over plain HTTP"
    # A suspended site answers 503 on every port, without redirecting first.
    assert fetch(node, f"bappeda.{ZONE}", BAPPEDA[1], path="/x").header("Location") == []


def test_hsts_only_where_requested_and_only_over_https(node: testinfra.host.Host) -> None:
    hsts = fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True)
    assert hsts.header("Strict-Transport-Security") == ["max-age=31536000"]
    missing = fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True, path="/no-such-page")
    assert missing.header("Strict-Transport-Security") == ["max-age=31536000"]
    for site, ip in (DINKES, DISPAR):
        plain = fetch(node, f"{site}.{ZONE}", ip, https=True)
        assert plain.header("Strict-Transport-Security") == [], site


def test_every_answer_of_a_site_names_the_site(node: testinfra.host.Host) -> None:
    """The verifier accepts an answer only if it carries the site's own name."""
    answers = [
        ("disdik", fetch(node, f"disdik.{ZONE}", DISDIK[1]), 301),
        ("disdik", fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True), 200),
        ("disdik", fetch(node, f"www.disdik.{ZONE}", DISDIK[1], https=True, path="/nope"), 404),
        ("disdik", fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True, path="/whoami.php"), 200),
        ("disdik", fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True, path="/boom.php"), 500),
        ("disdik", fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True, path="/gone.php"), 404),
        ("dinkes", fetch(node, f"dinkes.{ZONE}", DINKES[1], https=True), 200),
        ("dinkes", fetch(node, f"dinkes.{ZONE}", DINKES[1], https=True, path="/sneaky/x.php"), 500),
        ("bappeda", fetch(node, f"bappeda.{ZONE}", BAPPEDA[1]), 503),
        ("bappeda", fetch(node, f"bappeda.{ZONE}", BAPPEDA[1], https=True, path="/a.php"), 503),
        ("dispar", fetch(node, f"dispar.{ZONE}", DISPAR[1], https=True, path="/whoami.php"), 200),
    ]
    for site, reply, status in answers:
        assert reply.status == status, (site, reply.status, reply.headers)
        assert reply.header("X-Opdhost-Site") == [site], (site, reply.headers)
    # A name no site serves lands on the catch-all: 404, and no site's name.
    stray = node.run(
        f"curl -sS -D - -o /dev/null -H 'Host: nosuch.{ZONE}' http://127.0.0.1/index.html"
    )
    assert stray.rc == 0 and stray.stdout.split()[1] == "404", stray.stdout
    assert "x-opdhost-site" not in stray.stdout.lower()


def test_php_sandbox_closes_the_ld_preload_route(node: testinfra.host.Host) -> None:
    page = fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True, path="/sandbox.php")
    assert page.status == 200, page.body
    assert page.body.splitlines() == [
        "putenv: blocked",
        "mail: blocked",
        "mb_send_mail: blocked",
        "error_log: blocked",
        "LD_PRELOAD=false",
    ]


def test_htaccess_rewrite_cannot_reach_another_sites_pool_or_address(
    node: testinfra.host.Host,
) -> None:
    for path in ("/rewrite-h/x.php", "/rewrite-h/y.php", "/rewrite-p/p", "/rewrite-p/q"):
        page = fetch(node, f"dinkes.{ZONE}", DINKES[1], https=True, path=path)
        assert "RAN AS" not in page.body, (path, page.body)
        assert page.status == 500, (path, page.status)  # RewriteRule is not allowed here
    # Pretty URLs stay possible: FallbackResource hands unknown paths to a front controller.
    pretty = fetch(node, f"dispar.{ZONE}", DISPAR[1], https=True, path="/app/wisata/pantai")
    assert (pretty.status, pretty.body) == (200, "front controller: /app/wisata/pantai\n")


def test_a_run_interrupted_before_its_reload_is_reloaded_by_the_next(
    node: testinfra.host.Host,
) -> None:
    """side_effect stopped a run after it wrote dispar's pool, before PHP-FPM was reloaded;
    the next run rendered the same file and must still have brought PHP-FPM onto it."""
    page = fetch(node, f"dispar.{ZONE}", DISPAR[1], https=True, path="/whoami.php")
    assert (page.status, page.body) == (200, "RAN AS s-dispar\n")
    assert node.socket("unix:///run/php/opdhost-dispar.sock").is_listening


def test_site_ips_and_services_come_back_after_a_reboot(node: testinfra.host.Host) -> None:
    """Last on purpose: restarts the node."""
    subprocess.run(["podman", "restart", "--time", "20", "mol-apache-web"], check=True)
    deadline = time.monotonic() + 90
    state = ""
    while time.monotonic() < deadline:
        state = node.run("systemctl is-system-running").stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(2)
    assert state in ("running", "degraded"), state
    addrs = node.check_output("ip -o -4 addr show dev eth0")
    for _, ip in (DISDIK, DINKES, BAPPEDA, DISPAR):
        assert f" {ip}/32 " in addrs, ip
    php = fetch(node, f"disdik.{ZONE}", DISDIK[1], https=True, path="/whoami.php")
    assert php.body.strip() == "s-disdik"
    assert fetch(node, f"bappeda.{ZONE}", BAPPEDA[1]).status == 503
