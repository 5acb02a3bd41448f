"""The one exception type for bad user input: CLIs print its message as a single line and exit 2."""


class AugmentError(Exception):
    """A problem the user can fix (wrong path, corrupt file, bad option); the message says how."""


class DataError(AugmentError, ValueError):
    """Input data is missing, malformed or inconsistent."""
