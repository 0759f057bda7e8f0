"""Settings of the server that `.ci/schema_check` fuzzes: opsgov.settings with every API throttle lifted.

The check sends thousands of requests a minute as two users; the API's per-user and per-token
throttles would answer most of them 429, and a 429 tests nothing. `.ci/schema_check` also sets the
throttle variables to `off`; here every scope of DEFAULT_THROTTLE_RATES keeps its name with no rate
(DRF's SimpleRateThrottle lets every request through then), whatever the environment says.
"""

from __future__ import annotations

from typing import Any

from opsgov.settings import *  # noqa: F403
from opsgov.settings import REST_FRAMEWORK as _REST_FRAMEWORK

_scopes: dict[str, Any] = dict(_REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES") or {})  # type: ignore[call-overload]
REST_FRAMEWORK = {**_REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": dict.fromkeys(_scopes)}
