"""Lockplane: safe, explained, reversible Postgres schema changes."""

__version__ = "0.1.0"
