"""`lfgate example [DEST]`: copy the bundled quickstart project (tiny model, data, registry, YAML) to DEST.

It lands in DEST/examples/quickstart/, as in the repository: the YAML's paths resolve from the folder
llamafactory-cli is launched in, so `cd DEST && lfgate train examples/quickstart/train.yaml` runs it.
"""

from __future__ import annotations

import os
import shutil
import sys

from lfgate import bundled
from lfgate.errors import UsageError

DEFAULT_DEST = "lfgate-quickstart"


def add_arguments(parser) -> None:
    parser.add_argument("dest", nargs="?", default=DEFAULT_DEST,
                        help=f"folder to create (default: {DEFAULT_DEST}); it must not exist")


def run(args) -> int:
    source = bundled.path("examples", "quickstart")
    if not os.path.isdir(source):
        raise UsageError(f"the bundled example is missing from this installation ({source})")
    if os.path.lexists(args.dest):
        raise UsageError(f"{args.dest} already exists; name a new folder")
    temp = f"{args.dest.rstrip(os.sep)}.partial-{os.getpid()}"
    try:
        shutil.copytree(source, os.path.join(temp, "examples", "quickstart"))
        os.replace(temp, args.dest)  # all or nothing: no half-copied project under the name asked for
    except OSError as err:
        shutil.rmtree(temp, ignore_errors=True)
        raise UsageError(f"cannot create {args.dest}: {err.strerror or err}") from None
    print(f"wrote {args.dest}/examples/quickstart/: `cd {args.dest} && lfgate check examples/quickstart/train.yaml`, "
          "then `lfgate train examples/quickstart/train.yaml` (needs the train extra)", file=sys.stderr)
    return 0
