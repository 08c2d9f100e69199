"""How the report writes numbers and tables."""


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def rps(value: float) -> str:
    """Requests per second, rounded to a whole number with thousands separators."""
    return f"{value:,.0f}"


def ms(value: float) -> str:
    """Milliseconds with a precision that suits their size."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def share(value: float) -> str:
    """A fraction as a percentage."""
    return f"{100 * value:.1f}%"
