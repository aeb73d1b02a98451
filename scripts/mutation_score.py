"""The mutation score per module of the last ``make mutation`` (mutmut's ``mutants/`` folder).

Score = killed / (killed + survived): a mutant that timed out counts as killed (the tests
noticed it: an endless loop), one that no test runs counts as survived. Usage:
``python scripts/mutation_score.py [MUTANTS_DIR]``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code


def module_counts(meta: Path) -> Counter:
    """The mutants of one module by mutmut's status (``killed``, ``survived``, ...)."""
    codes = json.loads(meta.read_text())["exit_code_by_key"].values()
    return Counter(status_by_exit_code[code] for code in codes)


def main(folder: Path) -> None:
    print("| module | mutants | killed | timeout | survived | no tests | not checked | score |")
    print("|---|---|---|---|---|---|---|---|")
    for meta in sorted(folder.glob("src/**/*.py.meta")):
        counts = module_counts(meta)
        caught = counts["killed"] + counts["timeout"]
        missed = counts["survived"] + counts["no tests"]
        score = f"{caught / (caught + missed):.0%}" if caught + missed else "-"
        module = meta.relative_to(folder / "src").as_posix().removesuffix(".meta")
        print(f"| {module} | {sum(counts.values())} | {counts['killed']} | {counts['timeout']} "
              f"| {counts['survived']} | {counts['no tests']} | {counts['not checked']} "
              f"| {score} |")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "mutants"))
