"""The images: the image table, and getting each one — present, pulled, or built
offline from Debian's archive with TimescaleDB compiled from its source archive.
"""
