"""The documents wing: the office's papers (SOP steps 7-9 and its records) from the repository.

The notification letter (*surat pemberitahuan*), the IP and subdomain register, the hosting
configuration register, the execution report and the maintenance log are read from what the
other wings already keep: the request files (fleet), their git history, the platform and the
run records of apply. Nothing is typed twice and nothing secret goes in: a letter says where
the database credentials file is, never what it holds.

It is a wing of its own because it needs what no other command needs (Jinja2 templates the
office edits, WeasyPrint for PDF) and produces files for people, not for machines; those
libraries are imported only inside `render`, so `opdhost validate` never pays for them.
"""
