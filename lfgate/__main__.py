from lfgate.cli import entry

entry()
