"""The engine: pull, stage, plan, apply, ledger (and later seal and write back).

``pull`` takes pages from the platform to staged versions; ``process`` takes staged
versions to decisions (``planning``, pure) and rows (``applier``), recording each in the
ledger with the checkpoint in the same transaction. The staging boundary between the two
is what a file can cross (collector and loader across the network gap).
"""
