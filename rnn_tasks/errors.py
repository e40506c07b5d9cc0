"""The one exception type for bad input, notices that do not stop a command, and the check
of path arguments."""

import os
import sys
from pathlib import Path


class UserError(Exception):
    """Bad input from the user (recipe, data, paths, network needed but absent).

    The command line prints the message as one line on stderr and exits with
    status 2; the message says what was wrong, what was received and what is
    allowed.
    """


def first_line(error):
    """An exception's message as one line for a `UserError`: its first line, or the
    exception's type name where it has no message.

    Example:
    >>> first_line(ValueError("bad\\ndetails")), first_line(KeyError())
    ('bad', 'KeyError')
    """
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def notice(message):
    """Print `notice: message` on stderr: something the user should know that does not
    stop the command (rows left out, a fallback taken).

    Args:
        message: one line, without the `notice: ` prefix.

    Example:
    >>> notice("3 of 300 rows were left out")  # on stderr: notice: 3 of 300 rows were left out
    """
    print(f"notice: {message}", file=sys.stderr, flush=True)


def path_argument(name, value):
    """`value` as a `Path` (`~` expanded), or a `UserError` naming the argument when it is
    not a path.

    Example:
    >>> path_argument("run_dir", "runs/x").as_posix()
    'runs/x'
    >>> path_argument("run_dir", "~/runs/x") == Path.home() / "runs" / "x"
    True
    >>> path_argument("run_dir", None)
    Traceback (most recent call last):
    ...
    rnn_tasks.errors.UserError: run_dir must be a path (a str or os.PathLike), got NoneType None
    """
    if isinstance(value, (str, os.PathLike)) and str(value).strip():
        return Path(value).expanduser()
    if isinstance(value, (str, os.PathLike)):
        raise UserError(f"{name} must be a path, got {'an empty' if not str(value) else 'a blank'} "
                        f"string {str(value)!r}")
    raise UserError(f"{name} must be a path (a str or os.PathLike), got "
                    f"{type(value).__name__} {repr(value).splitlines()[0][:60]}")
