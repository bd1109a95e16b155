"""gunicorn settings for objstore, from the environment.

gthread workers: a thread per request, so one long upload or download does not block the
others, and no worker timeout kills a transfer that is still moving (the sync worker's would).
Downloads from local disk go out through sendfile. gunicorn-h1c (in requirements.txt) gives
gunicorn its C request parser, which it picks up by itself (by py-spy, request parsing went
from ~15 % to ~12 % of a small API call's CPU).
"""

import multiprocessing
import os

bind = os.environ.get("OBJSTORE_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count())))
# 16 threads: OBJSTORE_MAX_BODY_READERS (by default 12 of them) may be receiving request bodies,
# the rest always serve everything else (see objstore_site/bodies.py).
threads = int(os.environ.get("OBJSTORE_THREADS", "16"))
# With gthread, the timeout only bounds a worker that stops answering its master, not a request.
timeout = int(os.environ.get("OBJSTORE_WORKER_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 15
# Object names may be up to 1024 bytes, percent-encoded three times over, twice (copyTo).
limit_request_line = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# "-" logs to stdout; set OBJSTORE_ACCESS_LOG to a path, or to "off" (objstore's own request
# log, objstore.requests, already has method, path, status, bytes and duration).
_access_log = os.environ.get("OBJSTORE_ACCESS_LOG", "-")
accesslog = None if _access_log in ("", "off") else _access_log
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# sendfile stays on (gunicorn's default): downloads from local disk leave through the kernel.


def post_worker_init(worker):
    # Everything loaded so far (Django, the URL patterns, the models) lives as long as the
    # worker: move it out of the garbage collector's sight, so that its full collections do not
    # walk those objects again and again (~5 % of a small API call's CPU, by py-spy).
    import gc

    gc.freeze()
