"""opsgov.settings with the database and URL knobs bench/ingest_bench.py measures, set from the environment.

opsgov.settings has no variables for these; this module exists so that the
benchmark can measure what each would change, without touching the settings:

  OPSGOV_BENCH_CONN_HEALTH_CHECKS   "false": no SELECT 1 on the first query of each request
  OPSGOV_BENCH_SERVER_SIDE_BINDING  "true": psycopg binds parameters on the server, and
                                    prepares statements it runs often (prepare_threshold 5)
  OPSGOV_BENCH_INGEST_URLS_FIRST    "true": /api/v1/ingest/ resolved before the other API
                                    routes (bench/ingest_urls.py)
"""

import os

from opsgov.settings import *  # noqa: F403
from opsgov.settings import DATABASES


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value not in ("", "true", "false"):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return default if not value else value == "true"


DATABASES["default"]["CONN_HEALTH_CHECKS"] = _flag("OPSGOV_BENCH_CONN_HEALTH_CHECKS", True)
if _flag("OPSGOV_BENCH_SERVER_SIDE_BINDING", False):
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
if _flag("OPSGOV_BENCH_INGEST_URLS_FIRST", False):
    ROOT_URLCONF = "bench.ingest_urls"
