"""OpenAPI: the staff JWT authentication is documented like simplejwt's (Bearer token)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class StaffJWTScheme(SimpleJWTScheme):
    target_class = "privacy.authentication.StaffJWTAuthentication"
    name = "jwtAuth"
