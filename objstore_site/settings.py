"""objstore settings: one module, driven by the environment.

With no variables set it runs on the embedded defaults: SQLite and blobs on local disk under
``OBJSTORE_DATA_DIR`` (``./data``). Every variable is read through a strict helper that refuses
malformed values with ``ImproperlyConfigured`` instead of guessing.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DATA_DIR = Path(envstr("OBJSTORE_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment; on a single machine, one generated once and kept
    (mode 0600) in the data directory, so that a zero-setup install is still not guessable."""
    if key := envstr("SECRET_KEY"):
        return key
    key_file = DATA_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        pass
    # Several workers may start at once on a fresh data directory: the key is written whole to
    # a file of its own, then linked into place (atomic, and refused if another got there
    # first, whose key every process then reads).
    key = secrets.token_urlsafe(50)
    draft = DATA_DIR / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    try:
        os.link(draft, key_file)
    except FileExistsError:
        key = key_file.read_text().strip()
    finally:
        draft.unlink()
    return key


# Production mode (README "Deploy"): the secret and the site's names must come from the
# environment, since a generated key or a guessed host list is wrong on a real server.
OBJSTORE_PRODUCTION = envbool("OBJSTORE_PRODUCTION", False)
if OBJSTORE_PRODUCTION:
    _missing = [
        name
        for name in ("SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")
        if not envstr(name).strip(" ,")
    ]
    if _missing:
        raise ImproperlyConfigured(
            f"OBJSTORE_PRODUCTION is true: set {', '.join(_missing)} in the environment."
        )

SECRET_KEY = _secret_key()
DEBUG = envbool("DEBUG", False)
if OBJSTORE_PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be false when OBJSTORE_PRODUCTION is true.")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "buckets",
    "objects",
]

MIDDLEWARE = [
    # First, so that its log line covers redirects, static files and every other middleware.
    "objstore_site.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The CSP of HTML pages, and no-store on those shown to a signed-in user.
    "objstore_site.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before CSRF's process_view parses a multipart body: sign-in and size first.
    "objects.middleware.UploadGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # An htmx request without a session: lead the page to sign-in (HX-Redirect), not the listing.
    "objstore_site.htmx_login.HtmxLoginRedirectMiddleware",
]

ROOT_URLCONF = "objstore_site.urls"
WSGI_APPLICATION = "objstore_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", f"sqlite:///{DATA_DIR / 'objstore.sqlite3'}"),
        # Keep connections between requests (each gunicorn thread has its own): opening one per
        # request costs more than most API calls themselves.
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: a write transaction takes the lock up front instead of failing to upgrade a
    # read lock under concurrency; WAL lets readers (listings, downloads) run beside a writer.
    # objstore_site.sqlite queues write transactions rather than leaving them to SQLite's
    # sleeping busy handler (see its docstring).
    DATABASES["default"]["ENGINE"] = "objstore_site.sqlite"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "bucket_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start without it
STATICFILES_DIRS = [BASE_DIR / "static"]
# Without `collectstatic` WhiteNoise serves straight from the static folders, so the app works
# from a fresh clone; a deployment collects once and may turn the manifest storage on.
WHITENOISE_USE_FINDERS = envbool("WHITENOISE_USE_FINDERS", True)

# Object bytes live in a Django Storage at keys objstore generates; metadata lives in the DB.
OBJSTORE_BLOB_DIR = Path(envstr("OBJSTORE_BLOB_DIR", str(DATA_DIR / "blobs"))).resolve()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if envbool("OBJSTORE_STATIC_MANIFEST", False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
    "objstore": {},  # chosen below by OBJSTORE_STORAGE
}


def _required(name: str, why: str) -> str:
    value = envstr(name)
    if not value:
        raise ImproperlyConfigured(f"{name} must be set {why}.")
    return value


# Where object bytes go: local disk (default), Google Cloud Storage or S3 (django-storages).
OBJSTORE_STORAGE = envstr("OBJSTORE_STORAGE", "file").strip().lower()
if OBJSTORE_STORAGE == "file":
    STORAGES["objstore"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(OBJSTORE_BLOB_DIR),
            "directory_permissions_mode": 0o700,
            "file_permissions_mode": 0o600,
        },
    }
elif OBJSTORE_STORAGE == "gcs":
    STORAGES["objstore"] = {
        "BACKEND": "objects.backends.GoogleCloudStorage",
        "OPTIONS": {
            "bucket_name": _required("GS_BUCKET_NAME", "when OBJSTORE_STORAGE=gcs"),
            "project_id": envstr("GS_PROJECT_ID") or None,
            # An emulator or private endpoint; empty means Google's, with the credentials from
            # GOOGLE_APPLICATION_CREDENTIALS or the metadata server.
            "endpoint": envstr("GS_ENDPOINT_URL"),
            "file_overwrite": False,
        },
    }
elif OBJSTORE_STORAGE == "s3":
    STORAGES["objstore"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _required("AWS_STORAGE_BUCKET_NAME", "when OBJSTORE_STORAGE=s3"),
            "region_name": envstr("AWS_S3_REGION_NAME") or None,
            "endpoint_url": envstr("AWS_S3_ENDPOINT_URL") or None,
            "access_key": envstr("AWS_ACCESS_KEY_ID") or None,
            "secret_key": envstr("AWS_SECRET_ACCESS_KEY") or None,
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured(
        f"OBJSTORE_STORAGE must be file, gcs or s3, not {OBJSTORE_STORAGE!r}."
    )
# Largest object accepted, in bytes (default 5 GiB, GCS's single-request limit).
OBJSTORE_MAX_OBJECT_SIZE = envint("OBJSTORE_MAX_OBJECT_SIZE", 5 * 1024**3)
# How long an unfinished resumable upload session stays usable, in seconds (GCS: one week).
OBJSTORE_RESUMABLE_TTL = envint("OBJSTORE_RESUMABLE_TTL", 7 * 24 * 3600)
# fsync blobs before they become visible (slower; protects against power loss, not crashes).
OBJSTORE_FSYNC = envbool("OBJSTORE_FSYNC", False)
# Request bodies (objstore_site.bodies): how long a read may wait for the client's next bytes,
# in seconds, and how many requests of one gunicorn worker may receive a body at once (the rest
# get 503 at once), so that slow or stalled uploads always leave threads for other requests.
OBJSTORE_BODY_TIMEOUT = envint("OBJSTORE_BODY_TIMEOUT", 30)
_THREADS = envint("OBJSTORE_THREADS", 16)
OBJSTORE_MAX_BODY_READERS = envint(
    "OBJSTORE_MAX_BODY_READERS", max(1, _THREADS - max(2, _THREADS // 4))
)
# Free space kept on the data directory's filesystem, in bytes: below it new uploads are refused
# (507) so that deletes, which the database needs a little room for, always work.
OBJSTORE_MIN_FREE_BYTES = envint("OBJSTORE_MIN_FREE_BYTES", 256 * 1024**2)
# Seconds a replaced or deleted object's bytes are kept for downloads still reading them
# (objects/retirement.py): local disk needs none, cloud backends read blobs in ranges.
OBJSTORE_DELETE_GRACE = envint("OBJSTORE_DELETE_GRACE", 0 if OBJSTORE_STORAGE == "file" else 3600)
# Most time one listing page may spend scanning names a matchGlob rejects, in milliseconds; past
# it the page ends early, with a token to go on from.
OBJSTORE_LIST_BUDGET_MS = envint("OBJSTORE_LIST_BUDGET_MS", 2000)
# Most time one page of the pane's Find may spend scanning names, in milliseconds; past it the
# page shows what it found so far and offers to keep searching.
OBJSTORE_FIND_BUDGET_MS = envint("OBJSTORE_FIND_BUDGET_MS", 1000)
# Bytes each user's buckets may hold in all (objects and unfinished uploads), unless the admin
# gives the user a quota of their own; 0: unlimited. Buckets may also have an object limit.
OBJSTORE_USER_QUOTA_BYTES = envint("OBJSTORE_USER_QUOTA_BYTES", 0)
# How long new buckets keep deleted and replaced objects recoverable (soft delete), in seconds:
# 7 days, GCS's default; 0 creates buckets without soft delete. Each bucket can change its own.
OBJSTORE_SOFT_DELETE_SECONDS = envint("OBJSTORE_SOFT_DELETE_SECONDS", 7 * 24 * 3600)
# Rows per page in the pane's listing.
OBJSTORE_PAGE_SIZE = envint("OBJSTORE_PAGE_SIZE", 100)
# Most files one zip download may hold: a zip's closing directory lists every file, so building
# one holds ~0.4 KB per file until it ends (10,000 files: ~4 MB).
OBJSTORE_ZIP_MAX_FILES = envint("OBJSTORE_ZIP_MAX_FILES", 10_000)
# Sign-in throttling (buckets/throttle.py), shared by all workers through the database: this many
# wrong passwords for one username, or from one address, within OBJSTORE_LOGIN_LOCKOUT seconds
# refuse its sign-ins for that long; password hashing runs in at most
# OBJSTORE_LOGIN_CONCURRENT_CHECKS threads per process, the others wait OBJSTORE_LOGIN_CHECK_WAIT
# seconds at most. OBJSTORE_LOGIN_TRUSTED_PROXIES: proxies in front that append the client's
# address to X-Forwarded-For (0: the address is REMOTE_ADDR).
OBJSTORE_LOGIN_MAX_FAILURES = envint("OBJSTORE_LOGIN_MAX_FAILURES", 5)
OBJSTORE_LOGIN_MAX_FAILURES_PER_ADDRESS = envint("OBJSTORE_LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
OBJSTORE_LOGIN_LOCKOUT = envint("OBJSTORE_LOGIN_LOCKOUT", 900)
OBJSTORE_LOGIN_CONCURRENT_CHECKS = envint("OBJSTORE_LOGIN_CONCURRENT_CHECKS", 1)
OBJSTORE_LOGIN_CHECK_WAIT = envint("OBJSTORE_LOGIN_CHECK_WAIT", 5)
OBJSTORE_LOGIN_TRUSTED_PROXIES = envint("OBJSTORE_LOGIN_TRUSTED_PROXIES", 0)
# A Server-Timing header (the server's own time) on every response; it also tells any client
# how long the server took, so production mode leaves it off unless asked (the benchmarks do).
OBJSTORE_SERVER_TIMING = envbool("OBJSTORE_SERVER_TIMING", not OBJSTORE_PRODUCTION)
# Seconds each worker reuses the outcome of /healthz's storage probe (a write, a read and a
# delete), so that a flood of health checks costs at most one probe per worker per interval.
OBJSTORE_HEALTH_CACHE_SECONDS = envint("OBJSTORE_HEALTH_CACHE_SECONDS", 10)

# The pane uploads one file per request; a form posted without JavaScript may carry a folder.
DATA_UPLOAD_MAX_NUMBER_FILES = envint("DATA_UPLOAD_MAX_NUMBER_FILES", 1000)
# A selection in the listing posts up to 1,000 names (objects/bulk_views.MAX_SELECTED) and a
# few fields more; Django's default (1,000) would refuse it with a bare 400.
DATA_UPLOAD_MAX_NUMBER_FIELDS = envint("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1100)
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Load balancers probe /healthz over plain HTTP, straight to gunicorn: never redirect it.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

if OBJSTORE_PRODUCTION:
    # TLS ends at the proxy in front of gunicorn, which must set (not pass on) X-Forwarded-Proto;
    # gunicorn therefore listens on 127.0.0.1 only.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = envbool("OBJSTORE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading (browsers' built-in HTTPS-only list, slow to undo) is for the domain's owner
        # to opt into with SECURE_HSTS_PRELOAD=true; not having it is not a deployment defect.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    # Collected, hashed and compressed files (`collectstatic`), cached for ever by browsers.
    STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
    WHITENOISE_USE_FINDERS = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Share links' tokens never reach a log line whole (objstore_site/logpaths.py).
    "filters": {"share_tokens": {"()": "objstore_site.logpaths.HideShareTokens"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["share_tokens"]}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    # One line per request (objstore_site.middleware), even when LOG_LEVEL hides other INFO.
    "loggers": {"objstore.requests": {"level": "INFO"}},
}
