"""db.*: the schema dump and the checks on it."""
