"""Usage of the hostings: measured on the nodes, enforced (database quotas), reported monthly.

SOP record 3 (*data dan laporan penggunaan hosting*) and step 8 (the usage report to the head
of the office). One straight line, a module each:

    period   the month asked for (YYYY-MM), its days, the months before it
    collect  one playbook run (playbooks/usage.yml through apply.runner): per node one call,
             folded into per-site figures; the database role holds users over quota
    store    records/<env>/usage/YYYY-MM.json, written atomically, merged per day
    figures  use against the allocation per site and agency, warnings at 80 % and 100 %
    charts   the report's SVG charts (matplotlib, imported only there)
    report   CSV, HTML and PDF in Bahasa Indonesia (the documents wing's templates, letterhead,
             rendering and atomic writes)
    latest   the newest record's warnings for one site, for `opdhost plan` (JSON only)
"""
