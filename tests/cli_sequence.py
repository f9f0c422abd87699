"""Run several nnlab commands one after another in one process, so that one torchrun launch serves them all.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/cli_sequence.py '[["evaluate", ...], ...]'

The argument is a JSON list of argument lists (each as given to ``nnlab``); the first failing command's
exit status ends the process. The process group joined by the first command serves the later ones.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    """Run each command of the JSON list in ``argv[0]``; 0 when all succeed, else the first failure's status."""
    from nnlab.cli.main import app

    for args in json.loads(argv[0]):
        try:
            status = app(args, prog_name="nnlab", standalone_mode=False)
        except SystemExit as exc:
            status = exc.code
        if status not in (None, 0):
            return int(status)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
