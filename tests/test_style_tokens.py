"""The UI's colours are design tokens: every colour literal in the stylesheets defines a custom
property (in styles/tokens.css: the light block or the one dark-mode block), and rules use them
through var(); index.html loads every stylesheet."""

import re

from devtools.paths import REPO

UI = REPO / "webserver" / "ui"
STYLESHEETS = sorted((UI / "styles").glob("*.css"))
COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|\b(?:rgb|rgba|hsl|hsla)\(")
TOKEN_DEFINITION = re.compile(r"^\s*--[a-z0-9-]+:")


def test_colour_literals_only_define_tokens():
    """A colour written anywhere but in a `--token: value` line is a stray colour."""
    stray = [
        f"{sheet.name}:{number}: {line.strip()}"
        for sheet in STYLESHEETS
        for number, line in enumerate(sheet.read_text(encoding="utf-8").splitlines(), 1)
        if COLOUR.search(line) and not TOKEN_DEFINITION.match(line)
    ]
    assert not stray, "colours outside the tokens:\n" + "\n".join(stray)


def test_one_dark_mode_block():
    """The dark scheme overrides tokens in exactly one place."""
    blocks = {
        sheet.name: sheet.read_text(encoding="utf-8").count("prefers-color-scheme: dark")
        for sheet in STYLESHEETS
    }
    assert sum(blocks.values()) == 1 and blocks["tokens.css"] == 1, blocks


def test_index_loads_every_stylesheet_tokens_first():
    """A stylesheet that index.html does not link would be dead code; tokens come first."""
    html = (UI / "index.html").read_text(encoding="utf-8")
    linked = re.findall(r'<link rel="stylesheet" href="styles/([a-z-]+\.css)">', html)
    assert sorted(linked) == [sheet.name for sheet in STYLESHEETS]
    assert linked[0] == "tokens.css"
