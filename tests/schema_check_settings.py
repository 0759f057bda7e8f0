"""Settings of the server that `.ci/schema_check` fuzzes: opsgov.settings with every API throttle lifted.

The check sends a few thousand requests a minute as two users; the API's per-user and per-token
throttles would answer most of them 429, and a 429 tests nothing. Every throttle scope keeps its
place with a rate no run reaches, so a throttle class that needs its scope still finds one.
"""

from __future__ import annotations

from typing import Any

from opsgov.settings import *  # noqa: F403
from opsgov.settings import REST_FRAMEWORK as _REST_FRAMEWORK

UNREACHABLE_RATE = "1000000/second"

_rates: dict[str, Any] = dict(_REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES") or {})  # type: ignore[call-overload]
REST_FRAMEWORK = {
    **_REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {scope: (UNREACHABLE_RATE if rate else rate) for scope, rate in _rates.items()},
}
