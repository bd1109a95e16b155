from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from .models import Bucket


def get_bucket_for_user(request: HttpRequest, bucket_id: str) -> Bucket:
    """The signed-in user's bucket, or 404.

    Another user's bucket looks exactly like a missing one.
    """
    return get_object_or_404(Bucket, bucket_id=bucket_id, owner=request.user)
