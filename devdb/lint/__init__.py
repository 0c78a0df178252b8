"""The lint: a revision's SQL checked before any database runs it — squawk plus
the TimescaleDB rules, findings mapped back to revision lines.
"""
