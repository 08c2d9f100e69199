"""Command line tools. `attendee-directory-seed` (or `python -m attendee_directory.seed`) adds
the sample attendees to the database the app is configured for, through the app and get_db()
as flaskr's init-db does; it is safe to rerun."""

import sys

from . import create_app
from .config import ConfigError, Settings
from .db import get_db
from .seed import sample_attendees, seed


def seed_command() -> int:
    """Seed the database named by MONGO_URI / MONGO_DB; exit 2 on a bad setting."""
    try:
        # Not on start: the command seeds (and counts) everything itself, below.
        settings = Settings.from_env().model_copy(update={"seed_on_start": False})
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app({"SETTINGS": settings})
    with app.app_context():
        added = seed(get_db())  # get_db() prepares the indexes first
    kept = len(sample_attendees()) - added
    print(f"seeded {settings.mongo_db}: {added} attendees added, {kept} already there")
    return 0
