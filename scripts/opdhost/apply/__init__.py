"""The apply wing: from a reviewed plan to live hostings, verified and recorded.

render (per-node role variables, docs/contracts.md) -> pipeline (digests against the applied
state: which nodes and sites; the lock; the run) -> runner (ansible-runner, events) -> verify
(DNS, HTTP/HTTPS, database login, as a user would) -> records (applied state, run records).
"""
