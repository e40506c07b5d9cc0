"""Datasets that rnn_tasks makes itself (catalog source kind `generator`), seeded.

`english_spanish_dates`: English date expressions in many surface forms ->
their Spanish long form, with month and weekday names, word order and
agreement from Babel's CLDR data. The Spanish names the weekday only when
the English does (a translation adds no information):

    "March 3, 2021"                    -> "3 de marzo de 2021"
    "3/3/21"                           -> "3 de marzo de 2021"
    "Wednesday, the 3rd of March 2021" -> "miércoles, 3 de marzo de 2021"
"""

import datetime

import numpy as np
import pandas as pd

from rnn_tasks.errors import UserError

FIRST_DAY = datetime.date(1950, 1, 1)  # two-digit years: 50-99 -> 19xx, 00-49 -> 20xx
LAST_DAY = datetime.date(2049, 12, 31)

# (English form, names the weekday): CLDR patterns, or a function for ordinals.
ENGLISH_FORMS = [
    ("M/d/yy", False), ("MM/dd/y", False), ("y-MM-dd", False), ("MMM d, y", False),
    ("MMMM d, y", False), ("d MMMM y", False), ("d MMM y", False), ("MMMM d y", False),
    ("EEEE, MMMM d, y", True), ("EEE, MMM d, y", True), ("EEEE d MMMM y", True),
    ("ordinal", False), ("the ordinal", False), ("EEEE, the ordinal", True),
]


def ordinal(day):
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 23 -> '23rd'."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def english_date(date, form):
    """`date` written in one of `ENGLISH_FORMS`."""
    from babel.dates import format_date

    if form == "ordinal":
        return f"{format_date(date, 'MMMM', locale='en')} {ordinal(date.day)}, {date.year}"
    if form.endswith("the ordinal"):
        text = f"the {ordinal(date.day)} of {format_date(date, 'MMMM', locale='en')} {date.year}"
        return f"{format_date(date, 'EEEE', locale='en')}, {text}" if form.startswith("EEEE") else text
    return format_date(date, form, locale="en")


def spanish_date(date, weekday):
    """The Spanish long form, with the weekday ('full') or without ('long')."""
    from babel.dates import format_date

    return format_date(date, "full" if weekday else "long", locale="es")


def english_spanish_dates(count, seed):
    """`count` (English, Spanish) date pairs, uniform over 1950-2049 and over the forms.

    Args:
        count: number of pairs.
        seed: NumPy seed.

    Returns:
        `pandas.DataFrame` with columns `source`, `target`, `form`.

    Example:
    >>> english_spanish_dates(2, seed=0).shape
    (2, 3)
    """
    try:
        import babel  # noqa: F401
    except ImportError:
        raise UserError("the dates generator needs Babel: pip install babel") from None
    rng = np.random.default_rng(seed)
    days = rng.integers(0, (LAST_DAY - FIRST_DAY).days + 1, count)
    forms = rng.integers(0, len(ENGLISH_FORMS), count)
    lower = rng.random(count) < 0.2  # some people type in lower case
    rows = []
    for offset, index, low in zip(days, forms, lower):
        date = FIRST_DAY + datetime.timedelta(days=int(offset))
        form, weekday = ENGLISH_FORMS[index]
        source = english_date(date, form)
        rows.append((source.lower() if low else source, spanish_date(date, weekday), form))
    return pd.DataFrame(rows, columns=["source", "target", "form"])


GENERATORS = {"english_spanish_dates": english_spanish_dates}


def generate(name, source):
    """Runs the card's generator: `source` has `generator`, `count`, `seed`."""
    if source["generator"] not in GENERATORS:
        raise UserError(f"dataset {name!r}: unknown generator {source['generator']!r} "
                        f"(known: {', '.join(GENERATORS)})")
    return GENERATORS[source["generator"]](int(source["count"]), int(source.get("seed", 0)))
