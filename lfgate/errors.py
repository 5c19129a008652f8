class UsageError(Exception):
    """Bad command line, bad configuration or unusable input: exit 2 with this one-line message."""
