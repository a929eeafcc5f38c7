"""One exception type for everything a user can fix.

The CLI catches `UserError` (and the ValueError/FileNotFoundError family it
wraps) and prints its message as one line with a non-zero exit code, never a
traceback. Messages say what went wrong, where (file:line or config key) and
what was expected.
"""


class UserError(Exception):
    """A problem with the user's input: a bad file, config key or argument."""
