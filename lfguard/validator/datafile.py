"""Data-file loading rules (to write)."""
