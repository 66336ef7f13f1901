"""The command line wing: thin commands that parse options, call a wing, print the result.

main (the `opdhost` group; each command's module is imported only when that command runs) ->
requests (new, validate, plan, schema), apply, lab; common holds what they share (finding the
repository, the platform options, one way to report errors, text tables, JSON for machines).
"""
