"""The forge wing: what CI tells the merge request, the issue tracker and the run record.

Why a wing of its own: it is the only part of opdhost that talks to a forge (GitLab, GitHub,
Gitea/Forgejo) over HTTP, with a token, through client libraries no other command needs
(python-gitlab, PyGithub, requests). `opdhost ci` alone imports it, and each forge's client is
imported only when that forge is the one CI runs on, so `opdhost validate` and `apply` keep
their start-up time.

Modules: `context` (which forge, from the CI variables), `comment` (the plan comment: marker,
cut to the forge's limit), `drift` (the drift issue, from an `apply --check` run record),
`gitlab`, `github`, `gitea` (one client each, the same small interface: `Forge` in `base`).
Nothing here prints; errors are `ForgeError` (an `OpdhostError`) with the token scrubbed.
"""
