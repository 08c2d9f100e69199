"""`python -m attendee_directory COMMAND`: see cli.py."""

import sys

from .cli import main

sys.exit(main())
