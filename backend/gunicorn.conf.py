"""gunicorn settings for the backend; every value can be overridden from the environment."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"  # noqa: S104
wsgi_app = "attendee_directory.wsgi:app"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# No preload: each worker imports the app after fork and so builds its own MongoClient.
preload_app = False
# Longer than nginx's upstream keepalive_timeout, so nginx closes idle connections first
# and never sends a request down a connection that gunicorn is closing.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM, in-flight requests get this long to finish before workers are killed.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
access_log_format = (
    '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}i)s '
    "forwarded_for=%({x-forwarded-for}i)s"
)
# Container logs are read with `docker logs`; a control socket in the image's tmp is not needed.
control_socket_disable = True
# Worker heartbeats go to memory, not to disk (the container's root file system is read-only).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
