"""Databases at head for tests, in milliseconds: each one a clone of a sealed
template named by what it contains (the revision files, the server's PostgreSQL
and TimescaleDB, the settings that shape the schema), built once per server under
a lock and shared by every run and pytest-xdist process; and the pytest plugin
that hands them out.
"""
