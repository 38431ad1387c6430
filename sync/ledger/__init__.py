"""The bridge's own tables (prefix ``pb_``): staged versions, ledger, checkpoints, runs."""
