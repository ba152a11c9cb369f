from rest_framework.pagination import LimitOffsetPagination


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """``?limit=`` beyond 200 is served as 200: one request never dumps the whole table."""

    max_limit = 200
