"""gunicorn settings for the benchmark's comparison server (the backend itself runs granian).

Based on the gunicorn config the backend shipped before it moved to granian; read from the
same environment as the shipped launcher (attendee_directory.serve), so that a configuration's
workers and threads mean the same under both servers.
"""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"  # noqa: S104
wsgi_app = "attendee_directory.wsgi:app"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("WEB_THREADS", "4"))
# No preload: each worker imports the app after fork and so builds its own MongoClient.
preload_app = False
# Longer than nginx's upstream keepalive_timeout, so nginx closes idle connections first
# and never sends a request down a connection that gunicorn is closing.
keepalive = 75
timeout = 30
# On SIGTERM, in-flight requests get this long to finish before workers are killed.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
# No access log: the app writes one line per request itself (ACCESS_LOG), as it does under
# granian, so both servers do the same work per request.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# No control socket: nothing here talks to a running gunicorn.
control_socket_disable = True
# Worker heartbeats go to memory, not to disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
