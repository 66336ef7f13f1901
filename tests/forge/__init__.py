"""Fake forges for the tests: HTTP servers on 127.0.0.1 that answer what opdhost ci uses.

They stand in for GitLab, GitHub and Gitea/Forgejo, which cannot be reached here: each
answers the endpoints as the forge documents them (status codes, JSON shapes, Link-header
pagination with a small page size so every list is read over several pages), keeps the
comments and issues it was sent, and records every request for the tests to assert on.
"""
