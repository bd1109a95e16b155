from django.apps import AppConfig


class BucketsConfig(AppConfig):
    name = "buckets"
    default_auto_field = "django.db.models.BigAutoField"
