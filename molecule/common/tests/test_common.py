"""What every node must offer after the common role: base tools, time zone, state dir."""

import testinfra


def test_base_packages_installed(host: testinfra.host.Host) -> None:
    for name in ("ca-certificates", "curl", "iproute2", "python3-apt", "tar"):
        assert host.package(name).is_installed, name


def test_time_zone_is_jakarta(host: testinfra.host.Host) -> None:
    assert host.check_output("date +%Z") == "WIB"
    assert host.file("/etc/localtime").linked_to.endswith("Asia/Jakarta")


def test_state_dir_is_root_only(host: testinfra.host.Host) -> None:
    state = host.file("/etc/opdhost")
    assert state.is_directory
    assert state.user == "root"
    assert state.mode == 0o700
