"""Role-based API permissions: Django model permissions, granted to groups by opsgov.roles."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission, DjangoModelPermissions

from opsgov.roles import ALL_ROLES


class RoleModelPermissions(DjangoModelPermissions):
    """Model permissions where reading needs the view permission too.

    Anonymous requests get 401; an authenticated user whose roles lack the
    permission gets 403.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class HasRole(BasePermission):
    """For endpoints that are not about one model (the policy): any of the seed's roles may read."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return bool(user.is_superuser or user.groups.filter(name__in=ALL_ROLES).exists())
