"""The package's one command: `python -m attendee_directory COMMAND` (in the image and in .venv).

`seed` adds the sample attendees to the database the app is configured for (MONGO_URI /
MONGO_DB), through the app and get_db() as flaskr's init-db does; it is safe to rerun. The
server has its own launcher (attendee_directory.serve), since the image runs it as PID 1.
"""

import argparse
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


def main(argv: list[str] | None = None) -> int:
    """Parse ARGV (default: the command line) and run the command it names."""
    parser = argparse.ArgumentParser(
        prog="python -m attendee_directory", description="The attendee directory's commands."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("seed", help="add the sample attendees that are not there yet")
    commands.choices["seed"].set_defaults(run=seed_command)
    return parser.parse_args(argv).run()
