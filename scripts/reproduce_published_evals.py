"""Reproduce published eval numbers with the harness itself (``--backend replay``) and print
published vs ours vs difference (with the 95% CI of the paired difference over questions).

    python scripts/reproduce_published_evals.py [--outputs ../shared/data/outputs] [--work DIR] [--json FILE]

Each published output set is replayed through ``cotforge.evals.run_eval``; see
``cotforge.evals.reproduce`` for the sets and how the published numbers are recomputed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from cotforge.evals.benchmark import shared_data_dir
    from cotforge.evals.reproduce import markdown, reproduce

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", type=Path, default=shared_data_dir() / "outputs")
    ap.add_argument("--work", type=Path, default=None, help="keep the replay files and run folders here")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    ap.add_argument("--show-disagreeing", action="store_true", help="list the question ids that disagree")
    args = ap.parse_args(argv)
    if not args.outputs.is_dir():
        print(f"error: {args.outputs} is not a folder (the shared data outputs/)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = reproduce(args.outputs, args.work or Path(tmp))
    print(markdown(rows))
    print(f"\n{len(rows)} comparisons in {time.perf_counter() - t0:.1f} s")
    if args.show_disagreeing:
        for r in rows:
            if r["disagreeing"]:
                print(f"{r['set']} {r['metric']}: {', '.join(r['disagreeing'])}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":  # the verifier pool's workers re-import the main module
    sys.exit(main())
