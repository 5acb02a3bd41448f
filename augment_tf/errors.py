"""The exceptions for bad user input: CLIs print the message as a single line and exit 2 (`cli.run`)."""


class AugmentError(Exception):
    """A problem the user can fix (wrong path, corrupt file, bad option); the message says how."""


class DataError(AugmentError, ValueError):
    """Input data is missing, malformed or inconsistent: an AugmentError that is also a ValueError, for library
    callers that catch those."""
