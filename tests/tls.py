"""One certificate authority for the whole test session, made by scripts/make-secrets.sh
--tls-only as a user's is: every nginx the suites start, on this machine or in containers,
serves a certificate it signed, and every client of the suites trusts it as a user who imported
it would (requests and schemathesis through REQUESTS_CA_BUNDLE, Chromium through its NSS
database, openssl and curl through -CAfile / --cacert). Nothing skips verification."""

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

from devtools.cluster import MANAGER_ADDRESS
from devtools.local_stack.nginx import ensure_certificate

# The CA's name constraints allow only what it was made for: the default names, and the cluster
# suite's registry address (that suite signs a certificate for it with this CA).
SESSION_TLS_NAMES = f"localhost 127.0.0.1 {MANAGER_ADDRESS}"


@functools.cache
def tls_dir() -> Path:
    """The session's directory with ca.crt, ca.key, tls.crt and tls.key (removed at exit)."""
    directory = Path(tempfile.mkdtemp(prefix="vdt-tests-tls-"))
    atexit.register(shutil.rmtree, directory, True)
    ensure_certificate(directory, quiet=True, names=SESSION_TLS_NAMES)
    return directory


def ca_file() -> Path:
    """The session's certificate authority."""
    return tls_dir() / "ca.crt"


def trust_session_ca() -> None:
    """Make requests (and the tools built on it) in this process and its children verify
    against the session's authority."""
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca_file())


def share_ca(secrets_dir: Path) -> None:
    """Give SECRETS_DIR the session's authority before make-secrets.sh runs there, so that the
    certificate it makes for a container stack is one the suites trust."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    for name in ("ca.crt", "ca.key"):
        shutil.copy2(tls_dir() / name, secrets_dir / name)
