"""Sample-level rules (to write)."""
