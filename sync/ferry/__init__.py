"""Across the network gap (网闸): the same engine, split at the staging boundary.

``collect`` (external side) pulls the feed and its scans as ``sync`` does and writes signed
**feed batches**; ``load`` (internal side) verifies them and passes their versions through the
same ``Processor`` as ``sync``, then writes signed **result batches** that the collector posts
to the platform. Only files cross: one zip per batch, written under a temporary name and
renamed when complete.

- ``signing``: HMAC-SHA256 with a shared key, or SM2 with SM3 with a key pair per side.
- ``batch``: the batch file: manifest, members, their SHA-256s, the signature; reading verifies.
- ``outbox``: numbering, archive and delivery of the batches one side writes; crash recovery.
- ``inbox``: picking up complete batches, in sequence, quarantining bad ones.
- ``collector`` / ``loader``: the two halves. ``status``: what ``ferry status`` shows.
"""
