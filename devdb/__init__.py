"""The stock-tracker database toolkit: the library behind `invoke db.*` and nox.

Never imports invoke or nox; front ends call into it and turn ``DevDbError`` into a
message and an exit code.
"""
