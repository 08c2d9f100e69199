"""The UI's colours are design tokens: every colour literal in style.css defines a custom property
(in the light block or the one dark-mode block), and rules use them through var()."""

import re
from pathlib import Path

STYLE = Path(__file__).resolve().parent.parent / "webserver" / "ui" / "style.css"
COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|\b(?:rgb|rgba|hsl|hsla)\(")
TOKEN_DEFINITION = re.compile(r"^\s*--[a-z0-9-]+:")


def test_colour_literals_only_define_tokens():
    """A colour written anywhere but in a `--token: value` line is a stray colour."""
    stray = [
        f"style.css:{number}: {line.strip()}"
        for number, line in enumerate(STYLE.read_text(encoding="utf-8").splitlines(), 1)
        if COLOUR.search(line) and not TOKEN_DEFINITION.match(line)
    ]
    assert not stray, "colours outside the tokens:\n" + "\n".join(stray)


def test_one_dark_mode_block():
    """The dark scheme overrides tokens in exactly one place."""
    assert STYLE.read_text(encoding="utf-8").count("prefers-color-scheme: dark") == 1
