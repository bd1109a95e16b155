"""GCS's error envelope. Clients match on these texts (see GCS_API.md §9), so keep them exact."""

import json

from django.http import HttpResponse

BUCKET_NOT_FOUND = "The specified bucket does not exist."
PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold."


class ApiError(Exception):
    def __init__(self, code: int, message: str, reason: str, **extra: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.extra = extra

    def response(self) -> HttpResponse:
        detail = {"message": self.message, "domain": "global", "reason": self.reason, **self.extra}
        body = {"error": {"code": self.code, "message": self.message, "errors": [detail]}}
        return HttpResponse(
            json.dumps(body), status=self.code, content_type="application/json; charset=UTF-8"
        )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "invalid")


def unauthorized(message: str = "Anonymous caller does not have storage access.") -> ApiError:
    return ApiError(401, message, "required", locationType="header", location="Authorization")


def forbidden(message: str) -> ApiError:
    return ApiError(403, message, "forbidden")


def bucket_not_found() -> ApiError:
    return ApiError(404, BUCKET_NOT_FOUND, "notFound")


def object_not_found(bucket_id: str, name: str) -> ApiError:
    return ApiError(404, f"No such object: {bucket_id}/{name}", "notFound")


def not_found(message: str) -> ApiError:
    return ApiError(404, message, "notFound")


def precondition_failed() -> ApiError:
    return ApiError(
        412, PRECONDITION_FAILED, "conditionNotMet", locationType="header", location="If-Match"
    )


def conflict(message: str) -> ApiError:
    return ApiError(409, message, "conflict")
