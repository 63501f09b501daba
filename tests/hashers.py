"""The password hasher of the test suite, set once for every test in the root conftest."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 at one iteration: hashing costs microseconds instead of about a second per user.

    Still Django's `pbkdf2_sha256` algorithm, and the iteration count travels in the hash, so a
    server started in a separate process with the production hashers (tests/servers.py) accepts
    these passwords too (and upgrades the hash at the first sign-in). An MD5 hasher would not
    be: that process does not list it.
    """

    iterations = 1
