"""The WSGI entry point: the server (attendee_directory.serve) builds one app per worker."""

from . import create_app
from .worker_process import die_with_server

# Imported in each granian worker: the worker must not outlive the server's main process.
die_with_server()
app = create_app()
