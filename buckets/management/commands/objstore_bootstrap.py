"""Make a fresh install usable: a first user and a default bucket, then say how to sign in."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from buckets.models import Bucket
from buckets.services import bucket_create


class Command(BaseCommand):
    help = "Create the first user (a superuser) and a default bucket if they do not exist yet."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("OBJSTORE_ADMIN_USER", "admin"))
        parser.add_argument("--bucket", default="default", help="Name of the default bucket.")
        bind = os.environ.get("OBJSTORE_BIND", "127.0.0.1:8000")
        host, _, port = bind.rpartition(":")
        if host in ("", "0.0.0.0", "[::]"):  # listening everywhere: this machine answers too
            host = "127.0.0.1"
        parser.add_argument(
            "--url", default=f"http://{host}:{port}/", help="URL to print (from OBJSTORE_BIND)."
        )

    def handle(
        self, *args: object, username: str, bucket: str, url: str, **options: object
    ) -> None:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            # A password from the environment, or a random one shown once: never a default.
            password = os.environ.get("OBJSTORE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
            shown = (
                password
                if "OBJSTORE_ADMIN_PASSWORD" not in os.environ
                else "(from OBJSTORE_ADMIN_PASSWORD)"
            )
            sign_in = f"user {username!r}, password {shown}"
        else:
            sign_in = (
                f"user {username!r} with the password you set"
                f" (reset: manage.py changepassword {username})"
            )
        default = Bucket.objects.filter(owner=user).order_by("created").first()
        if default is None:
            default = bucket_create(owner=user, name=bucket)
        self.stdout.write(
            self.style.SUCCESS("objstore is ready.")
            + f"\n  Open      {url}\n  Sign in   {sign_in}"
            + f"\n  Bucket    {default.name} (ID {default.bucket_id})\n"
        )
