"""The fleet wing: request files in, a checked model and a plan out.

loading (files from the working tree or a git ref) -> yamlload (safe YAML with lines) ->
schema/fastschema + model (one valid request) -> checks, ledger, livedns (across files and
against the platform) -> plan (per-site changes, safety guard) -> review (all of it, for
`validate`, `plan` and `apply`); allocation and writer make new request files; formats turns
findings, ledgers and plans into text, Markdown and JSON. Nothing here touches a host.
"""
