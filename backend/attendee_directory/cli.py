"""The package's one command: `python -m attendee_directory COMMAND` (in the image and in .venv).

`seed` adds the sample attendees to the database the app is configured for (MONGO_URI /
MONGO_DB), through the app and get_db() as flaskr's init-db does; it is safe to rerun.
`users` manages the accounts (list, create, set-role, reset-password, disable, enable); a
password is read from standard input (one line), never from the command line, where `ps` and
the shell's history would show it. `backup` and `restore` write and read the one-file archive
of the directory's data (backup.py). The server has its own launcher (attendee_directory.serve),
since the image runs it as PID 1.
"""

import argparse
import getpass
import sys
from collections.abc import Callable

from pymongo.database import Database

from . import accounts, backup, create_app
from .config import ConfigError, Settings
from .credentials import ROLES
from .db import get_db
from .errors import ApiError
from .seed import sample_attendees, seed

CLI_ACTOR = ("cli", "cli")


def _with_database(work: Callable[[Database, Settings], int]) -> int:
    """Run WORK on the configured database; exit 2 on a bad setting, 1 on a refused change."""
    try:
        # Not on start: the seed command seeds (and counts) everything itself.
        settings = Settings.from_env().model_copy(update={"seed_on_start": False})
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app({"SETTINGS": settings})
    with app.app_context():
        try:
            return work(get_db(), settings)  # get_db() prepares the indexes first
        except ApiError as exc:
            fields = "".join(f"; {name}: {problem}" for name, problem in (exc.fields or {}).items())
            print(f"error: {exc.message}{fields}", file=sys.stderr)
            return 1


def seed_command(args: argparse.Namespace) -> int:
    """Seed the database named by MONGO_URI / MONGO_DB."""

    def work(database: Database, settings: Settings) -> int:
        added = seed(database)
        kept = len(sample_attendees()) - added
        print(f"seeded {settings.mongo_db}: {added} attendees added, {kept} already there")
        return 0

    return _with_database(work)


def _read_password() -> str:
    """The password: typed at a terminal (twice), or the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ApiError(422, "validation_failed", "the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _show(user: dict) -> None:
    """One line per user: name, role, and whether it is disabled."""
    print(f"{user['username']}\t{user['role']}" + ("\tdisabled" if user["disabled"] else ""))


def users_command(args: argparse.Namespace) -> int:
    """List users, or create or change one, as `cli` in the audit trail."""

    def work(database: Database, settings: Settings) -> int:
        if args.action == "list":
            found, _ = accounts.list_users(database, 0, 0)
            for user in found:
                _show(user)
            return 0
        if args.action == "create":
            user = accounts.create_user(
                database, args.username, _read_password(), args.role, CLI_ACTOR
            )
        else:
            changes = {
                "set-role": lambda: {"role": args.role},
                "reset-password": lambda: {"password": _read_password()},
                "disable": lambda: {"disabled": True},
                "enable": lambda: {"disabled": False},
            }[args.action]()
            user = accounts.update_user(database, args.username, changes, CLI_ACTOR)
        _show(user)
        return 0

    return _with_database(work)


def _users_parser(commands: argparse._SubParsersAction) -> None:
    """The `users` command and its actions."""
    users = commands.add_parser("users", help="manage the accounts (roles: viewer, editor, admin)")
    users.set_defaults(run=users_command)
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every user, its role, and whether it is disabled")
    create = actions.add_parser("create", help="a new user; the password from standard input")
    create.add_argument("username")
    create.add_argument("--role", choices=ROLES, required=True)
    set_role = actions.add_parser("set-role", help="change a user's role (sessions follow)")
    set_role.add_argument("username")
    set_role.add_argument("role", choices=ROLES)
    for action, text in (
        ("reset-password", "a new password from standard input; ends the user's sessions"),
        ("disable", "refuse the user's sign-in, sessions and tokens"),
        ("enable", "let a disabled user in again"),
    ):
        actions.add_parser(action, help=text).add_argument("username")


def main(argv: list[str] | None = None) -> int:
    """Parse ARGV (default: the command line) and run the command it names."""
    parser = argparse.ArgumentParser(
        prog="python -m attendee_directory", description="The attendee directory's commands."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("seed", help="add the sample attendees that are not there yet")
    commands.choices["seed"].set_defaults(run=seed_command)
    _users_parser(commands)
    backup.add_commands(commands)
    args = parser.parse_args(argv)
    return args.run(args)
