"""`make bench`: run the benchmark scripts one after another (they share the machine, so never in parallel).

    python bench/run.py                 # every script, with its default (full-size) parameters
    python bench/run.py import list     # only these
    BENCH_ARGS="--rows 100000" ...      # extra arguments passed to every script that accepts --rows

Each script writes bench/results/<name>.json; this prints a one-line summary of each.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["embed", "import", "index_cost", "list", "api", "icp", "pipeline"]


def main(argv: list[str]) -> int:
    wanted = argv or [name for name in ORDER if (HERE / f"{name}_bench.py").exists()]
    extra = shlex.split(os.environ.get("BENCH_ARGS", ""))
    failures = 0
    for name in wanted:
        script = HERE / f"{name}_bench.py"
        if not script.exists():
            print(f"[bench] no such benchmark: {name}", file=sys.stderr)
            failures += 1
            continue
        accepts_rows = "--rows" in script.read_text()
        args = extra if accepts_rows else [a for a in extra if not a.startswith("--rows")]
        print(f"[bench] {name}: {script.name} {' '.join(args)}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script), *args], cwd=HERE.parent)
        print(
            f"[bench] {name}: exit {result.returncode} after {time.perf_counter() - started:.0f}s", flush=True
        )
        failures += result.returncode != 0
        output = HERE / "results" / f"{name}.json"
        if output.exists():
            print(json.dumps(json.loads(output.read_text()))[:2000])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
