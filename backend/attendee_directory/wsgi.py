"""The WSGI entry point: `gunicorn attendee_directory.wsgi:app` builds one app per worker."""

from . import create_app

app = create_app()
