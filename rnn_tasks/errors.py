"""The one exception type for bad input."""


class UserError(Exception):
    """Bad input from the user (recipe, data, paths, network needed but absent).

    The command line prints the message as one line on stderr and exits with
    status 2; the message says what was wrong, what was received and what is
    allowed.
    """
