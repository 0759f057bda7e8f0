"""Bench-only settings (bench/ingest_bench.py): the settings under test, with bench_drf's route added to the URLconf.

BENCH_BASE_SETTINGS names the settings under test (opsgov.settings by default;
--settings opsgov.settings_ingest measures the ingest service's shorter path).
BENCH_URLCONF names another bench-only URLconf instead of bench_drf (bench/backup_bench.py:
backup_ping_floor; bench/maintenance_bench.py: bench_maintenance); like bench_drf it includes
BENCH_BASE_URLCONF after its own routes.
BENCH_PREPARED_STATEMENTS=true (--prepared-statements) turns on psycopg's
server-side binding and statement preparation through Django's public
DATABASES OPTIONS (server_side_binding, prepare_threshold).
"""

import importlib
import os

_base = importlib.import_module(os.environ.get("BENCH_BASE_SETTINGS") or "opsgov.settings")
globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

#: What bench_drf (or BENCH_URLCONF's module) includes after its own routes.
BENCH_BASE_URLCONF: str = _base.ROOT_URLCONF
ROOT_URLCONF = os.environ.get("BENCH_URLCONF") or "bench_drf"

if _base.env.bool("BENCH_PREPARED_STATEMENTS", default=False):
    _base.DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 2})
