"""The program a pre-started dbt process runs (``python <this file>``, started by ``dbt_process``).

It imports dbt and the DuckDB adapter first (about 3.5 s of one core here), then waits for
its one command on stdin: a JSON line with the arguments, the environment and the working
directory. It then runs exactly what the ``dbt`` executable would run (``dbt.cli.main.cli``)
and exits with dbt's exit code. The environment comes over the pipe, never on a command
line, since it can hold the lake's credentials. When stdin closes without a command (the
process that started it ended, or never needed dbt), it exits 0 without running anything.

Why: see ``dbt_process``. This module is the child side only; it imports nothing of the
pipeline.
"""

from __future__ import annotations

import json
import os
import sys

import dbt.adapters.duckdb  # noqa: F401  - the adapter too: dbt loads it for every command
from dbt.cli.main import cli  # the import paid ahead of the command


def main() -> int:
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    request = json.loads(line)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["dbt", *request["args"]]
    return cli()


if __name__ == "__main__":
    sys.exit(main())
