"""The lab wing: the local Podman lab the roles, the tests and the main command run on.

nodes (what the lab is: names, addresses, specs; no I/O) -> podman (the podman CLI) -> ssh
(the lab's own key) -> manage (up, status, down); errors says what to run about a fault.
"""
