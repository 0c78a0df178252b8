"""The seed data: deterministic synthetic market data, loaded with COPY."""
