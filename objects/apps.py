from django.apps import AppConfig


class ObjectsConfig(AppConfig):
    name = "objects"
    default_auto_field = "django.db.models.BigAutoField"
