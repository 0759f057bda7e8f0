"""Role-based API permissions: Django model permissions, granted to groups by opsgov.roles."""

from rest_framework.permissions import DjangoModelPermissions


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
