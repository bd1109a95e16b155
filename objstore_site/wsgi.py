import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "objstore_site.settings")
get_wsgi_application()  # sets Django up

from objstore_site.handlers import Application  # noqa: E402

application = Application()
