"""Backups of every hosting's files and database, and restores (docs/backups.md).

The node side is roles/backup (restic, a nightly timer, `opdhost-backup` on each web and
database node); this wing is the controller side: what each node backs up (layout), when a
backup counts as too old or failed (status), which snapshot `--at WHEN` means (when), talking
to a node's `opdhost-backup` over SSH (remote) and a restore with its maintenance-log entry
(restore).
"""

from opdhost.errors import OpdhostError


class BackupError(OpdhostError):
    """A backup or restore cannot be done as asked (bad input, a node's refusal)."""
