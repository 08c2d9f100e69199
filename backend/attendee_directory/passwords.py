"""Password hashing with argon2id (argon2-cffi): hash, verify, and rehash when parameters change.

The parameters are OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): about 30 ms a hash on
one core here, and 19 MiB per sign-in in flight, so that a replica's 4 threads signing in at
once stay well inside its memory limit (compose.yaml: 224 MiB). Raising them is safe: a stored
hash made with other parameters is rehashed at its owner's next sign-in.
"""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# A longer password is refused before it is hashed: hashing costs the server the same for any
# length, but parsing and copying megabytes of "password" is work an attacker chooses.
MAX_PASSWORD_BYTES = 1024
MIN_PASSWORD_CHARACTERS = 10

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the user does not exist, so that an unknown name costs the same time as a
# wrong password: the answer's timing does not tell whether a username exists.
_UNKNOWN_USER_HASH = HASHER.hash("no user has this password")


def too_long(password: str) -> bool:
    """Whether PASSWORD is over MAX_PASSWORD_BYTES in UTF-8 (it is then never hashed)."""
    return len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES


def hash_password(password: str) -> str:
    """The argon2id hash of PASSWORD, with the current parameters and a random salt."""
    if too_long(password):
        raise ValueError(f"a password is at most {MAX_PASSWORD_BYTES} bytes")
    return HASHER.hash(password)


def verify(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Check PASSWORD against STORED_HASH (None: no such user, still costs one verification).

    Returns whether it matched, and a new hash when it matched but the stored one was made with
    other parameters (the caller stores it).
    """
    if too_long(password):
        return False, None
    try:
        HASHER.verify(stored_hash or _UNKNOWN_USER_HASH, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if stored_hash is None:
        return False, None
    return True, (HASHER.hash(password) if HASHER.check_needs_rehash(stored_hash) else None)
