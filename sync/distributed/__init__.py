"""Beyond one machine: the nightly run as one job per region partition, on procrastinate.

procrastinate keeps its queue in PostgreSQL — the database that already holds the bridge's state —
so no broker is added. ``sync --distributed`` (``coordinator``) records the run and its partitions,
defers one ``sync_partition`` job each, waits, retries the jobs of workers that stopped sending
heartbeats, then sweeps the configured scopes once (anything outside every partition) and seals,
writes back and reports as ``sync`` does. ``pension-bridge worker`` (``tasks``) runs the jobs.
The platform's rate limit is shared by every process of one app key (``pacing``).

- ``partitions``: region prefixes to partition a run by (pure).
- ``pacing``: the shared rate limit, a GCRA in the state database.
- ``tasks``: the procrastinate app and its tasks.
- ``coordinator``: one distributed run, end to end.
"""
