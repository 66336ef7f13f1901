"""Every bad input of the issue: reported as `path:line: field: message`, exit 1, no traceback.

Each case writes one broken copy of a valid request at requests/disdik/disdik.yaml (line
numbers: see conftest.VALID) and runs `opdhost validate`; the exact location is asserted.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .conftest import PATH, VALID, make_repo, make_request, validate

BOMB = b"""\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def _sub(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


CASES: list[tuple[str, str | bytes, str, str]] = [
    # (case id, file content, expected "path:line: field:", message fragment)
    (
        "yaml-syntax",
        _sub("  runtime: php", "  runtime: [php"),
        f"{PATH}:18: (yaml):",
        "YAML syntax error",
    ),
    (
        "duplicate-key",
        _sub("  runtime: php\n", "  runtime: php\n  ip: 10.203.0.101\n"),
        f"{PATH}:18: web.ip:",
        "duplicate key (first defined on line 16)",
    ),
    (
        "duplicate-top-key",
        VALID + "status: suspended\n",
        f"{PATH}:27: status:",
        "duplicate key (first defined on line 13)",
    ),
    ("alias-bomb", BOMB, f"{PATH}:2: b[0]:", "YAML aliases (*name) are not allowed"),
    (
        "alias-reuse",
        _sub("  tls: true", "  tls: &t true\n  extra: *t"),
        f"{PATH}:23: web.extra:",
        "YAML aliases",
    ),
    (
        "merge-key",
        _sub("database:\n", "database:\n  <<: {engine: none}\n"),
        f"{PATH}:24: database:",
        "merge keys",
    ),
    (
        "non-utf8",
        _sub("Dinas Pendidikan", "Dinas P\udce9ndidikan").encode("utf-8", "surrogateescape"),
        f"{PATH}:4: (file):",
        "not valid UTF-8 (byte 0xe9",
    ),
    ("utf16", VALID.encode("utf-16"), f"{PATH}:1: (file):", "binary file"),
    ("binary", b"\x7fELF\x02\x01\x01\x00\x00\x00", f"{PATH}:1: (file):", "binary file"),
    ("empty", b"", f"{PATH}:1: (file):", "empty file"),
    ("only-comments", b"# nothing here\n\n", f"{PATH}:1: (file):", "empty file"),
    ("two-documents", VALID + "---\nsite: other\n", f"{PATH}:27: (yaml):", "another document"),
    (
        "top-level-list",
        "- " + VALID.replace("\n", "\n  ").rstrip() + "\n",
        f"{PATH}:1: (document):",
        "expected a mapping",
    ),
    ("scalar-document", "just text\n", f"{PATH}:1: (document):", "expected a mapping"),
    (
        "list-for-mapping",
        _sub(
            "database:\n  engine: mariadb\n  server: db1\n  quota_mb: 512\n",
            "database: [mariadb, 512]\n",
        ),
        f"{PATH}:23: database:",
        "expected a mapping, got a list",
    ),
    (
        "unknown-key",
        _sub("  tls: true\n", "  tls: true\n  php_version: '8.2'\n"),
        f"{PATH}:23: web.php_version:",
        "unknown key",
    ),
    ("unknown-top-key", VALID + "owner: root\n", f"{PATH}:27: owner:", "unknown key"),
    (
        "missing-field",
        _sub("  runtime: php\n", ""),
        f"{PATH}:14: web.runtime:",
        "required field is missing",
    ),
    (
        "non-string-key",
        _sub("  tls: true", "  tls: true\n  42: answer"),
        f"{PATH}:23: web:",
        "keys must be text",
    ),
    (
        "python-tag",
        _sub("  runtime: php", "  runtime: !!python/object/apply:os.system [id]"),
        f"{PATH}:17: web.runtime:",
        "unsupported YAML tag",
    ),
    (
        "wrong-type-text",
        _sub("storage_mb: 2048", "storage_mb: lots"),
        f"{PATH}:18: web.storage_mb:",
        "expected a whole number, got text",
    ),
    (
        "wrong-type-bool",
        _sub("  tls: true", "  tls: sometimes"),
        f"{PATH}:22: web.tls:",
        "expected true or false, got text",
    ),
    (
        "wrong-type-float",
        _sub("bandwidth_mbit: 10", "bandwidth_mbit: 10.5"),
        f"{PATH}:19: web.bandwidth_mbit:",
        "expected a whole number, got a decimal number",
    ),
    (
        "wrong-type-bool-for-name",
        _sub("site: disdik", "site: yes"),
        f"{PATH}:1: site:",
        "expected text, got true/false",
    ),
    (
        "wrong-type-null",
        _sub("  node: web1", "  node:"),
        f"{PATH}:15: web.node:",
        "expected text, got nothing (null)",
    ),
    (
        "negative-number",
        _sub("bandwidth_mbit: 10", "bandwidth_mbit: -5"),
        f"{PATH}:19: web.bandwidth_mbit:",
        "-5 is too small (minimum 1)",
    ),
    (
        "zero",
        _sub("quota_mb: 512", "quota_mb: 0"),
        f"{PATH}:26: database.quota_mb:",
        "0 is too small",
    ),
    (
        "absurd-number",
        _sub("storage_mb: 2048", "storage_mb: 99999999999999"),
        f"{PATH}:18: web.storage_mb:",
        "99999999999999 is too large (maximum 1048576)",
    ),
    (
        "absurd-bandwidth",
        _sub("bandwidth_mbit: 10", "bandwidth_mbit: 1e9"),
        f"{PATH}:19: web.bandwidth_mbit:",
        "expected a whole number, got text",
    ),
    (
        "bad-enum",
        _sub("status: active", "status: deleted"),
        f"{PATH}:13: status:",
        "'deleted' is not one of: active, suspended, decommissioned",
    ),
    (
        "bad-engine",
        _sub("engine: mariadb", "engine: mysql"),
        f"{PATH}:24: database.engine:",
        "is not one of: mariadb, postgresql, none",
    ),
    (
        "upper-case-site",
        _sub("site: disdik", "site: Disdik"),
        f"{PATH}:1: site:",
        "'Disdik' must be a DNS label",
    ),
    (
        "space-in-site",
        _sub("site: disdik", "site: dis dik"),
        f"{PATH}:1: site:",
        "'dis dik' must be a DNS label",
    ),
    (
        "newline-in-site",
        _sub("site: disdik", 'site: "dis\\ndik"'),
        f"{PATH}:1: site:",
        "contains the character U+000A (line feed) at position 4",
    ),
    (
        "quote-in-site",
        _sub("site: disdik", 'site: "dis\'dik"'),
        f"{PATH}:1: site:",
        "must be a DNS label",
    ),
    (
        "slash-in-site",
        _sub("site: disdik", "site: dis/dik"),
        f"{PATH}:1: site:",
        "must be a DNS label",
    ),
    (
        "dotdot-in-site",
        _sub("site: disdik", "site: ../../etc"),
        f"{PATH}:1: site:",
        "must be a DNS label",
    ),
    (
        "dotdot-in-opd",
        _sub("code: disdik", "code: .."),
        f"{PATH}:3: opd.code:",
        "must be 2-32 lower-case letters",
    ),
    (
        "site-leading-hyphen",
        _sub("site: disdik", "site: -disdik"),
        f"{PATH}:1: site:",
        "must be a DNS label",
    ),
    (
        "site-trailing-hyphen",
        _sub("site: disdik", "site: disdik-"),
        f"{PATH}:1: site:",
        "must be a DNS label",
    ),
    (
        "site-punycode-prefix",
        _sub("site: disdik", "site: xn--dsdk"),
        f"{PATH}:1: site:",
        "must be a DNS label",
    ),
    (
        "site-too-long",
        _sub("site: disdik", "site: " + "a" * 31),
        f"{PATH}:1: site:",
        "must be a DNS label of 2-30 characters",
    ),
    (
        "site-underscore",
        _sub("site: disdik", "site: dis_dik"),
        f"{PATH}:1: site:",
        "must be a DNS label",
    ),
    (
        "alias-empty-label",
        _sub("www.disdik.kab", "www..disdik.kab"),
        f"{PATH}:21: web.aliases[0]:",
        "must be a fully qualified host name",
    ),
    (
        "alias-upper",
        _sub("www.disdik.kab", "WWW.disdik.kab"),
        f"{PATH}:21: web.aliases[0]:",
        "must be a fully qualified host name",
    ),
    (
        "alias-space",
        _sub("www.disdik.kab-contoh.go.id", '"www disdik.kab-contoh.go.id"'),
        f"{PATH}:21: web.aliases[0]:",
        "must be a fully qualified host name",
    ),
    (
        "db-name-quote",
        _sub("engine: mariadb\n", 'engine: mariadb\n  name: "x\'; DROP DATABASE y"\n'),
        f"{PATH}:25: database.name:",
        "must be 1-31 lower-case letters",
    ),
    (
        "db-user-upper",
        _sub("engine: mariadb\n", "engine: mariadb\n  user: Admin\n"),
        f"{PATH}:25: database.user:",
        "must be 1-31 lower-case letters",
    ),
    (
        "db-system-name",
        _sub("engine: mariadb\n", "engine: mariadb\n  name: mysql\n"),
        f"{PATH}:25: database.name:",
        "'mysql' is a system database name",
    ),
    (
        "db-reserved-user",
        _sub("engine: mariadb\n", "engine: mariadb\n  user: root\n"),
        f"{PATH}:25: database.user:",
        "'root' is an administrative database account",
    ),
    (
        "db-name-pg-keyword",
        _sub("engine: mariadb\n", "engine: mariadb\n  name: sameuser\n"),
        f"{PATH}:25: database.name:",
        "'sameuser' is a system database name or pg_hba keyword",
    ),
    (
        "db-user-pg-prefix",
        _sub("engine: mariadb\n", "engine: mariadb\n  user: pg_disdik\n"),
        f"{PATH}:25: database.user:",
        "'pg_disdik' is reserved by PostgreSQL (the pg_ prefix)",
    ),
    (
        "db-name-replication",
        _sub("engine: mariadb\n", "engine: mariadb\n  name: replication\n"),
        f"{PATH}:25: database.name:",
        "'replication' is a system database name or pg_hba keyword",
    ),
    (
        "engine-none-with-quota",
        _sub("engine: mariadb", "engine: none"),
        f"{PATH}:26: database.quota_mb:",
        "not allowed with engine none",
    ),
    (
        "ip-syntax",
        _sub("ip: 10.203.0.100", "ip: 10.203.0.1000"),
        f"{PATH}:16: web.ip:",
        "must be an IPv4 address",
    ),
    (
        "ip-leading-zero",
        _sub("ip: 10.203.0.100", "ip: 10.203.0.010"),
        f"{PATH}:16: web.ip:",
        "must be an IPv4 address",
    ),
    (
        "ip-outside-pool",
        _sub("ip: 10.203.0.100", "ip: 10.203.0.200"),
        f"{PATH}:16: web.ip:",
        "10.203.0.200 is outside web1's pool 10.203.0.100-10.203.0.199",
    ),
    (
        "ip-other-network",
        _sub("ip: 10.203.0.100", "ip: 192.168.1.10"),
        f"{PATH}:16: web.ip:",
        "is outside web1's pool",
    ),
    (
        "ip-gateway",
        _sub("ip: 10.203.0.100", "ip: 10.203.0.1"),
        f"{PATH}:16: web.ip:",
        "10.203.0.1 is reserved: the gateway of web1's and web2's pools",
    ),
    (
        "ip-network",
        _sub("ip: 10.203.0.100", "ip: 10.203.0.0"),
        f"{PATH}:16: web.ip:",
        "is reserved: the network address",
    ),
    (
        "ip-broadcast",
        _sub("ip: 10.203.0.100", "ip: 10.203.0.255"),
        f"{PATH}:16: web.ip:",
        "is reserved: the broadcast address",
    ),
    (
        "ip-node-address",
        _sub("ip: 10.203.0.100", "ip: 10.203.0.11"),
        f"{PATH}:16: web.ip:",
        "is reserved: the address of node web1",
    ),
    (
        "ip-dns-server",
        _sub("ip: 10.203.0.100", "ip: 10.203.0.31"),
        f"{PATH}:16: web.ip:",
        "is reserved: a platform server's address",
    ),
    (
        "unknown-node",
        _sub("node: web1", "node: web9"),
        f"{PATH}:15: web.node:",
        "unknown web node 'web9' (known: web1, web2)",
    ),
    (
        "alias-outside-zone",
        _sub("www.disdik.kab-contoh.go.id", "www.disdik.example.com"),
        f"{PATH}:21: web.aliases[0]:",
        "is not a host name inside the zone kab-contoh.go.id",
    ),
    (
        "alias-is-zone-apex",
        _sub("www.disdik.kab-contoh.go.id", "kab-contoh.go.id"),
        f"{PATH}:21: web.aliases[0]:",
        "is not a host name inside the zone",
    ),
    (
        "alias-static-name",
        _sub("www.disdik.kab-contoh.go.id", "mail.kab-contoh.go.id"),
        f"{PATH}:21: web.aliases[0]:",
        "is a static name of the zone",
    ),
    (
        "alias-own-name",
        _sub("www.disdik.kab-contoh.go.id", "disdik.kab-contoh.go.id"),
        f"{PATH}:21: web.aliases[0]:",
        "host name 'disdik.kab-contoh.go.id' is already claimed by this file:1 (site)",
    ),
    (
        "site-reserved",
        make_request(site="ns1").replace("code: disdik", "code: disdik"),
        "requests/disdik/ns1.yaml:1: site:",
        "'ns1' is reserved for the platform",
    ),
    (
        "site-differs-from-file",
        _sub("site: disdik", "site: sekolah"),
        f"{PATH}:1: site:",
        "'sekolah' differs from the file name (expected requests/disdik/sekolah.yaml)",
    ),
    (
        "opd-differs-from-dir",
        _sub("code: disdik", "code: dinkes"),
        f"{PATH}:3: opd.code:",
        "'dinkes' differs from the directory 'disdik'",
    ),
    (
        "bad-date",
        _sub("date: 2026-11-02", "date: 2026-02-30"),
        f"{PATH}:11: letter.date:",
        "'2026-02-30' is not a real calendar date",
    ),
    (
        "date-with-time",
        _sub("date: 2026-11-02", "date: 2026-11-02 10:00:00"),
        f"{PATH}:11: letter.date:",
        "must be a date YYYY-MM-DD",
    ),
    (
        "letter-number-quote",
        _sub("number: 421/123/Disdik/2026", 'number: "421\'123"'),
        f"{PATH}:10: letter.number:",
        "no spaces or quotes",
    ),
    (
        "opd-name-control-char",
        _sub("name: Dinas Pendidikan", 'name: "Dinas\\tPendidikan"'),
        f"{PATH}:4: opd.name:",
        "contains the character U+0009 (tab) at position 6",
    ),
]


@pytest.mark.parametrize(
    ("content", "where", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_reported_with_its_location(
    tmp_path: Path, content: str | bytes, where: str, message: str
) -> None:
    path = where.split(":", 1)[0]
    root = make_repo(tmp_path, {path: content})
    result = validate(root)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    matching = [line for line in lines if line.startswith(where + " ")]
    assert matching, f"no finding at {where!r} in:\n{result.stdout}"
    assert any(message in line for line in matching), result.stdout
    assert "Traceback" not in result.output


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {PATH: BOMB})
    start = time.perf_counter()
    result = validate(root)
    assert time.perf_counter() - start < 5  # ~0.1 s normally; generous for loaded CI
    assert result.exit_code == 1
    # every alias is named, none is expanded
    assert len(result.stdout.splitlines()) == 8 * 9


def test_every_problem_in_every_file_in_one_run(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            PATH: _sub("site: disdik", "site: Disdik").replace(
                "bandwidth_mbit: 10", "bandwidth_mbit: -1"
            ),
            "requests/dinkes/sehat.yaml": b"",
            "requests/bappeda/renbang.yaml": make_request("renbang", "bappeda", "10.203.0.101"),
            "requests/notes.txt": "stray",
        },
    )
    result = validate(root)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "requests/dinkes/sehat.yaml:1: (file): empty file (no YAML document)",
        f"{PATH}:1: site: 'Disdik' must be a DNS label of 2-30 characters: lower-case letters, "
        "digits and inner hyphens, starting with a letter (no '--' at positions 3-4)",
        f"{PATH}:19: web.bandwidth_mbit: -1 is too small (minimum 1)",
        "requests/notes.txt:1: (file): not a request file: requests live at "
        "requests/<opd>/<site>.yaml",
    ]
    assert "3 errors" not in result.stderr  # the count is of findings: 4
    assert "4 errors, 0 warnings" in result.stderr


def test_two_requests_claiming_the_same_name(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "requests/dinkes/disdik.yaml": make_request("disdik", "dinkes", "10.203.0.101").replace(
                "www.disdik.", "www2.disdik."
            ),
            PATH: VALID,
        },
    )
    result = validate(root)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{PATH}:1: site: host name 'disdik.kab-contoh.go.id' is already claimed by "
        "requests/dinkes/disdik.yaml:1 (site)",
        f"{PATH}:1: site: site 'disdik' is already claimed by requests/dinkes/disdik.yaml:1 (site)",
        f"{PATH}:1: site: system user 's-disdik' is already claimed by "
        "requests/dinkes/disdik.yaml:1 (site)",
        # name and user are implicit (from the site name): the `database:` line is shown
        f"{PATH}:23: database.name: database name 'disdik' is already claimed by "
        "requests/dinkes/disdik.yaml:23 (database.name)",
        f"{PATH}:23: database.user: database user 'disdik' is already claimed by "
        "requests/dinkes/disdik.yaml:23 (database.user)",
    ]


def test_two_requests_claiming_the_same_ip_and_alias(tmp_path: Path) -> None:
    other = make_request("sekolah", "disdik", "10.203.0.100").replace("www.sekolah.", "www.disdik.")
    root = make_repo(tmp_path, {PATH: VALID, "requests/disdik/sekolah.yaml": other})
    result = validate(root)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "requests/disdik/sekolah.yaml:16: web.ip: IP '10.203.0.100' is already claimed by "
        f"{PATH}:16 (web.ip)",
        "requests/disdik/sekolah.yaml:21: web.aliases[0]: host name 'www.disdik.kab-contoh.go.id' "
        f"is already claimed by {PATH}:21 (web.aliases[0])",
    ]


def test_alias_claiming_another_sites_name(tmp_path: Path) -> None:
    other = make_request("sekolah", "disdik", "10.203.0.101").replace(
        "www.sekolah.kab-contoh.go.id", "disdik.kab-contoh.go.id"
    )
    root = make_repo(tmp_path, {PATH: VALID, "requests/disdik/sekolah.yaml": other})
    result = validate(root)
    assert result.stdout.splitlines() == [
        "requests/disdik/sekolah.yaml:21: web.aliases[0]: host name 'disdik.kab-contoh.go.id' "
        f"is already claimed by {PATH}:1 (site)",
    ]


def test_shared_database_name_across_engines_is_refused(tmp_path: Path) -> None:
    other = make_request("sekolah", "disdik", "10.203.0.101").replace(
        "engine: mariadb\n", "engine: postgresql\n  name: disdik\n  user: sekolah\n"
    )
    root = make_repo(tmp_path, {PATH: VALID, "requests/disdik/sekolah.yaml": other})
    result = validate(root)
    assert result.stdout.splitlines() == [
        "requests/disdik/sekolah.yaml:25: database.name: database name 'disdik' is already "
        f"claimed by {PATH}:23 (database.name)",
    ]


def test_deep_nesting_is_refused_without_recursion_error(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {PATH: VALID + "deep: " + "[" * 800 + "]" * 800 + "\n"})
    result = validate(root)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{PATH}:27: deep[0][0]")
    assert "nested deeper than 16 levels" in result.stdout


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {PATH: VALID + "# padding\n" * 30000})
    result = validate(root)
    assert result.exit_code == 1
    assert result.stdout == f"{PATH}:1: (file): file is larger than 262144 bytes\n"


def test_control_characters_in_keys_and_file_names_stay_on_one_line(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            PATH: VALID + '"evil\\nkey": 1\n',
            "requests/disdik/x\ny.yaml": VALID,
        },
    )
    result = validate(root)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"{PATH}:27: evil\\x0akey: a key contains the character U+000A" in "\n".join(lines)
    assert any(line.startswith("requests/disdik/x\\x0ay.yaml:") for line in lines)
    assert all(line.startswith("requests/") for line in lines)
