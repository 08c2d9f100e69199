"""The package's version, in a module of its own so that any module can import it at the top."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("attendee-directory")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+source"
