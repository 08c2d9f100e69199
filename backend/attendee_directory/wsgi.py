"""The WSGI entry point: the server (attendee_directory.serve) builds one app per worker."""

from . import create_app

app = create_app()
