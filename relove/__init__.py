"""reLove Communication Bot: Django project package and shared infrastructure."""

from .celery import app as celery_app

__all__ = ("celery_app",)
