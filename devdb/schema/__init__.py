"""The schema: the revision files, running them with Alembic, and the contract they
keep — the normalised dump, its manifest, the checksums, the init SQL, the round trip.
"""
