"""API authentication: knox's token authentication, noting the network each token is used from."""

from __future__ import annotations

from typing import Any

from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework.request import Request

from ..audit import remote_addr_of
from ..tokens.networks import note_use


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's, plus opsgov.tokens.networks: a token used from a network new to it raises a security signal."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None:
            note_use(token=result[1], remote_addr=remote_addr_of(request._request))
        return result
