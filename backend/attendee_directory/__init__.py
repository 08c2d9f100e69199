"""VDT 2023 attendee directory: the Flask application factory."""

from flask import Flask

from ._version import __version__
from .json_provider import FastJSONProvider

__all__ = ["__version__", "create_app"]


def create_app(test_config: dict | None = None) -> Flask:
    """Create the application: settings from the environment, then test overrides."""
    from . import (
        attendees,
        audit,
        auth,
        db,
        errors,
        health,
        metrics,
        openapi,
        replicas,
        request_log,
        request_path,
        sessions,
        tokens,
        users,
    )
    from .config import Settings

    app = Flask(__name__)
    test_config = dict(test_config or {})
    # Tests pass a ready Settings object; everything else reads the environment.
    settings = test_config.pop("SETTINGS", None) or Settings.from_env()
    app.config.update(SETTINGS=settings, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.config.update(test_config)
    app.json = FastJSONProvider(app)

    request_log.init_app(app)
    if settings.metrics:
        metrics.init_app(app)
    errors.init_app(app)
    db.init_app(app)
    replicas.init_app(app)
    auth.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(attendees.bp)
    app.register_blueprint(sessions.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(replicas.bp)
    app.register_blueprint(openapi.bp)
    request_path.init_app(app)
    return app
