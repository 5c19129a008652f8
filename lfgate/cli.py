"""The command line: parse arguments, hand each subcommand to its module, map outcomes to exit codes.

Exit codes: 0 nothing at or above the failure level, 1 findings at or above it, 2 usage or internal error.
Subcommand modules are imported only when used, so `lfgate check` never pays for the runner's imports.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional

from lfgate import __version__
from lfgate.errors import UsageError

# name -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
COMMANDS = {
    "check": ("lfgate.commands.check", "check dataset_info.json, datasets and training YAMLs"),
    "rules": ("lfgate.commands.rules", "list the rules, or explain one"),
    "schema": ("lfgate.commands.schema", "print a JSON Schema (train or dataset_info)"),
    "train": ("lfgate.commands.train", "check, then launch LoRA SFT (built-in runner or llamafactory-cli)"),
    "export": ("lfgate.commands.export", "check, then merge LoRA adapters into the model (llamafactory-cli export)"),
    "preview": ("lfgate.commands.preview", "show samples rendered with the template and their label mask"),
    "doctor": ("lfgate.commands.doctor", "report the environment: versions, devices, variables"),
    "convert": ("lfgate.commands.convert", "turn a spreadsheet or table into alpaca/sharegpt data"),
    "register": ("lfgate.commands.register", "add a data file to dataset_info.json"),
    "fix": ("lfgate.commands.fix", "write a corrected copy of a dataset without the records LLaMA-Factory drops"),
    "stats": ("lfgate.commands.stats", "dataset statistics: lengths, roles, truncation"),
    "example": ("lfgate.commands.example", "copy the bundled quickstart project (tiny model, data, YAML) to a folder"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 as well; keep its one-line style, without the usage dump
        raise UsageError(message)


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` the one command about to run: its module alone is imported, which
    keeps `lfgate check` from loading every other command's dependencies at start-up."""
    parser = _Parser(prog="lfgate", description="Check LLaMA-Factory projects before they train, then launch.")
    parser.add_argument("--version", action="version", version=f"lfgate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv=None) -> int:
    try:
        from lfgate import legacy

        legacy.adopt_old_environment()  # LFGUARD_* read as LFGATE_*, with an LG002 finding
        first = next((a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")), None)
        args, extra = build_parser(first if first in COMMANDS else None).parse_known_args(argv)
        # `lfgate train x.yaml --dry-run lr=1e-5`: key=value overrides may follow options, as they may with
        # llamafactory-cli; argparse alone would call them unrecognized.
        overrides = [a for a in extra if "=" in a and not a.startswith("-")]
        if extra != overrides or (overrides and not hasattr(args, "paths")):
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        if overrides:
            args.paths = list(args.paths or []) + overrides
        if not getattr(args, "_run", None):
            build_parser().print_help()
            return 2
        return int(args._run(args) or 0)
    except UsageError as err:
        from lfgate.sanitize import safe  # names and values in the message come from input

        print(f"lfgate: error: {safe(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lfgate: interrupted", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except Exception as err:  # never a traceback for users; LFGATE_DEBUG=1 shows it for us
        if os.environ.get("LFGATE_DEBUG"):
            raise
        print(f"lfgate: internal error: {type(err).__name__}: {err} (set LFGATE_DEBUG=1 for details)",
              file=sys.stderr)
        return 2


def entry() -> None:
    """The `lfgate` command (and `python -m lfgate`): main(), then exit. After a command that loaded torch (a
    training run), the interpreter's teardown of torch and transformers' thousands of modules takes seconds
    (benchmarks/README.md, "runner") and writes nothing: every file is closed by then, so the process ends at once.
    Coverage and profilers save their data at exit, so they get the normal one."""
    code = main()
    if "torch" in sys.modules and not any(m in sys.modules for m in ("coverage", "cProfile", "pyinstrument")):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
