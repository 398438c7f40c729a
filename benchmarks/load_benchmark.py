"""Office pages under load while syncs run, and the workorder list at scale.

    .venv/bin/python benchmarks/load_benchmark.py [--users 20] [--seconds 30] [--rows 100000]
    .venv/bin/python benchmarks/load_benchmark.py --only scale --rows 100000 --small 1000

Uses ``DATABASE_URL`` / ``CELERY_BROKER_URL`` when set (a PostgreSQL database
named in ``DATABASE_URL`` is created if missing and dropped at the end), else a
throwaway embedded install (temporary ``ATTIK_VAR_DIR``: SQLite + the
filesystem broker).

1. Pages under load (benchmarks/load_pages.py): one company with ``--seed``
   workorders (bulk-created), the web app under gunicorn (3 processes x 4
   threads), the sandbox and 2 Celery worker processes. ``--users`` office-staff
   members loop list + detail pages without think time for ``--baseline`` seconds
   (no syncs: the baseline), then for ``--seconds`` while ``--syncs`` syncs run.
2. The list at scale (benchmarks/load_scale.py): a company with ``--small``
   workorders (the baseline) and one with ``--rows``, the same list pages timed
   on both through Django's test client (``--repeat`` runs after one warm-up,
   p50 and p95), reported as the ratio large/small; the queries one list page
   makes and the plans of its workorder queries.

The machine is shared: every figure comes with its ratio to the baseline taken in
the same run and the load average when it was taken. Prints the figures and writes
benchmarks/results/load_benchmark.json (or ``--output NAME``).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    ROOT,
    drop_database,
    machine_load,
    prepare_database,
    setup_django,
    write_result,
)
from benchmarks.load_pages import pages_under_load, print_load
from benchmarks.load_scale import list_at_scale, print_scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["pages", "scale"],
                        help="run one part (default: both)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rows", type=int, default=100_000,
                        help="workorders of the large company in part 2")
    parser.add_argument("--small", type=int, default=1000,
                        help="workorders of the baseline company in part 2")
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed requests per list case and size in part 2")
    parser.add_argument("--seed", type=int, default=2000, help="workorders for part 1")
    parser.add_argument("--syncs", type=int, default=300)
    parser.add_argument("--baseline", type=float, default=10,
                        help="seconds of the same page load before the syncs, 0 to skip")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--celery-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--drain", type=float, default=60,
                        help="seconds to wait after the window for the remaining syncs")
    parser.add_argument("--output", default="load_benchmark",
                        help="name of the result file in benchmarks/results/")
    parser.add_argument("--keep", action="store_true",
                        help="keep the benchmark database and var dir")
    args = parser.parse_args()
    # the filesystem broker's URL has no host; kombu says so on every connection
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    own_var_dir = "ATTIK_VAR_DIR" not in os.environ
    db = prepare_database()
    var_dir = setup_django()
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"Database: {engine}{' (created ' + db['name'] + ')' if db.get('created') else ''}; "
          f"broker: {settings.CELERY_BROKER_URL.split(':', 1)[0]}; var dir {var_dir}")
    rng = random.Random(20251125)
    result: dict = {"load_at_start": machine_load()}
    try:
        if args.only in (None, "pages"):
            result["pages_under_load"] = load = pages_under_load(args, rng)
            print_load(load)
        if args.only in (None, "scale"):
            result["list_at_scale"] = scale = list_at_scale(args, rng)
            print_scale(scale)
        result["load_at_end"] = machine_load()
        path = write_result(args.output, result)
        print(f"Written to {path.relative_to(ROOT)}")
    finally:
        if not args.keep:
            if db.get("created"):
                drop_database(db)
                print(f"Dropped database {db['name']}")
            if own_var_dir:
                shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
