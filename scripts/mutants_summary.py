"""The score of the last `mutmut run` (`make mutants`): survivors, then one
line per mutated module, then the total on the last line, e.g.

    mutants: 412 killed, 9 survived, 3 timeout of 424 (97.2 %)

The score is killed / all mutants. Reads `mutmut results --all true`, the
command-line listing (``    <module>.<function>__mutmut_<n>: <status>``).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

MUTMUT = Path(sys.executable).with_name("mutmut")
# Printed in this order when non-zero; killed and survived always.
STATUSES = (
    "killed",
    "survived",
    "timeout",
    "no tests",
    "suspicious",
    "segfault",
    "skipped",
    "caught by type check",
    "check was interrupted by user",
    "not checked",
)


def line(label: str, counts: Counter[str]) -> str:
    total = sum(counts.values())
    parts = [
        f"{counts[status]} {status}"
        for status in STATUSES
        if counts[status] or status in ("killed", "survived")
    ]
    parts += [f"{n} {status}" for status, n in sorted(counts.items()) if status not in STATUSES]
    score = 100 * counts["killed"] / total if total else 0.0
    return f"{label}: {', '.join(parts)} of {total} ({score:.1f} %)"


def main() -> int:
    listing = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    by_module: defaultdict[str, Counter[str]] = defaultdict(Counter)
    survivors = []
    for entry in listing.splitlines():
        name, sep, status = entry.strip().rpartition(": ")
        if not sep:
            continue
        by_module[name.rsplit(".", 1)[0]][status] += 1
        if status != "killed":
            survivors.append(f"  {status}: {name}")
    if not by_module:
        print("mutants: no results (run `make mutants`)")
        return 1
    if survivors:
        print("not killed (`.venv/bin/mutmut show NAME` shows the change):")
        print("\n".join(survivors))
    total: Counter[str] = Counter()
    for module, counts in sorted(by_module.items()):
        print(line(f"mutants {module.replace('.', '/')}.py", counts))
        total += counts
    print(line("mutants", total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
