"""English dates as people type them -> their Spanish long form (generator `english_spanish_dates`).

Each pair draws a day uniformly over 1900-2099, one English form (below),
optionally a weekday in front, and a letter case; the Spanish side comes from
Babel's CLDR data and names the weekday only when the English does (a
translation adds no information):

    "2021-03-17", "2021/3/17"                   -> "17 de marzo de 2021"
    "03/17/2021", "3/17/21", "17/03/2021"       -> "17 de marzo de 2021"
    "17-Mar-2021", "Mar. 17, 2021"              -> "17 de marzo de 2021"
    "17th March 2021", "March seventeenth, 2021" -> "17 de marzo de 2021"
    "WED, THE 17TH OF MARCH 2021"               -> "miércoles, 17 de marzo de 2021"

Conventions, for what cannot be told from the text itself:

- numbers with the year last are month first, as in the US ("03/04/2021" is
  March 4); a first number above 12 can only be the day ("17/03/2021"), so
  day-first forms are drawn only for days 13-31;
- a two-digit year is 1950-1999 for 50-99 and 2000-2049 for 00-49, so forms
  with one are drawn only for those years.
"""

import datetime
import functools
import re

import numpy as np
import pandas as pd

from rnn_tasks.errors import UserError

FIRST_DAY = datetime.date(1900, 1, 1)
LAST_DAY = datetime.date(2099, 12, 31)
TWO_DIGIT_YEARS = range(1950, 2050)  # "21" -> 2021, "60" -> 1960

# Fields: {d} 7, {dd} 07, {do} 7th, {dw} seventh, {M} 3, {MM} 03, {MMM} Mar,
# {MMMM} March, {y} 2021, {yy} 21; a weekday prefix adds {E} Wed or {EEEE} Wednesday.
NUMERIC_FORMS = ("{y}-{MM}-{dd}", "{y}/{MM}/{dd}", "{y}-{M}-{d}", "{y}/{M}/{d}", "{y}.{MM}.{dd}",
                 "{MM}/{dd}/{y}", "{M}/{d}/{y}", "{MM}-{dd}-{y}", "{M}/{d}/{yy}", "{MM}/{dd}/{yy}")
DAY_FIRST_FORMS = ("{dd}/{MM}/{y}", "{d}/{M}/{y}", "{dd}.{MM}.{y}", "{dd}-{MM}-{y}")
WORD_FORMS = (
    "{MMMM} {d}, {y}", "{MMMM} {d} {y}", "{MMM} {d}, {y}", "{MMM}. {d}, {y}", "{MMM} {d} {y}",
    "{d} {MMMM} {y}", "{d} {MMMM}, {y}", "{d} {MMM} {y}", "{d} {MMM}. {y}", "{d}-{MMM}-{y}",
    "{dd}-{MMM}-{y}", "{d}-{MMM}-{yy}", "{dd} {MMM} {yy}", "{MMM} {d}, {yy}",
    "{MMMM} {do}, {y}", "{MMMM} {do} {y}", "{MMM}. {do}, {y}", "{do} {MMMM} {y}", "{do} {MMM} {y}",
    "{do} of {MMMM} {y}", "{do} of {MMMM}, {y}", "the {do} of {MMMM} {y}", "the {do} of {MMMM}, {y}",
    "{MMMM} {dw}, {y}", "{MMMM} the {dw}, {y}", "{dw} of {MMMM} {y}", "{dw} {MMMM} {y}",
    "the {dw} of {MMMM} {y}", "the {dw} of {MMMM}, {y}",
)
WEEKDAY_PREFIXES = ("{EEEE}, ", "{EEEE} ", "{E}, ", "{E} ", "{E}. ")
WEEKDAY_SHARE = 0.25
CASES = {"as_written": 0.6, "lower": 0.2, "upper": 0.1, "title": 0.1}

# Abbreviations people type beside CLDR's ("Sep", "Tue", "Thu").
ALTERNATIVES = {"Sep": ("Sep", "Sept"), "Tue": ("Tue", "Tues"), "Wed": ("Wed", "Weds"),
                "Thu": ("Thu", "Thur", "Thurs")}
ORDINAL_WORDS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth").split()


def ordinal(day):
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 23 -> '23rd'."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def ordinal_words(day, separator="-"):
    """1 -> 'first', 21 -> 'twenty-first', 30 -> 'thirtieth' (days of a month only)."""
    if day <= 20:
        return ORDINAL_WORDS[day - 1]
    tens, ones = divmod(day, 10)
    tens_word = {2: "twenty", 3: "thirty"}[tens]
    return f"{tens_word}{separator}{ORDINAL_WORDS[ones - 1]}" if ones else f"{tens_word[:-1]}ieth"


def forms_for(date):
    """The English forms `date` may be drawn in (two-digit years and day-first numbers
    only where they are unambiguous under the module's conventions)."""
    return unambiguous_forms(date.day > 12, date.year in TWO_DIGIT_YEARS)


@functools.cache
def unambiguous_forms(day_above_12, two_digit_year):
    forms = NUMERIC_FORMS + WORD_FORMS + (DAY_FIRST_FORMS if day_above_12 else ())
    return forms if two_digit_year else tuple(form for form in forms if "{yy}" not in form)


@functools.cache
def english_names():
    """CLDR's English month and weekday names, wide and abbreviated (weekday 0: Monday)."""
    from babel.dates import get_day_names, get_month_names

    return {"MMMM": dict(get_month_names("wide", locale="en")),
            "MMM": dict(get_month_names("abbreviated", locale="en")),
            "EEEE": dict(get_day_names("wide", locale="en")),
            "E": dict(get_day_names("abbreviated", locale="en"))}


def pick(rng, options):
    """One of `options`, drawn with `rng` (faster than `rng.choice` on short tuples)."""
    return options[int(rng.integers(len(options)))]


def english_date(date, form, rng):
    """`date` written in `form` (fields as in `NUMERIC_FORMS`), abbreviations and
    ordinal words varied with `rng`."""
    names = english_names()

    def abbreviation(name):
        return pick(rng, ALTERNATIVES.get(name, (name,)))

    fields = {
        "d": date.day, "dd": f"{date.day:02d}", "do": ordinal(date.day),
        "dw": ordinal_words(date.day, pick(rng, "- ")),
        "M": date.month, "MM": f"{date.month:02d}", "MMM": abbreviation(names["MMM"][date.month]),
        "MMMM": names["MMMM"][date.month], "y": date.year, "yy": f"{date.year % 100:02d}",
        "E": abbreviation(names["E"][date.weekday()]), "EEEE": names["EEEE"][date.weekday()],
    }
    return form.format(**fields)


def typed_case(text, case):
    """`text` in one of `CASES`: as written, lower, upper or title case ("The First Of May")."""
    if case == "lower":
        return text.lower()
    if case == "upper":
        return text.upper()
    if case == "title":
        return re.sub(r"\b[a-z]", lambda match: match.group().upper(), text)
    return text


def spanish_date(date, weekday):
    """The Spanish long form, with the weekday ('full') or without ('long')."""
    from babel.dates import format_date

    return format_date(date, "full" if weekday else "long", locale="es")


def english_spanish_dates(count, seed):
    """`count` (English, Spanish) date pairs, uniform over 1900-2099 and over each day's forms.

    Args:
        count: number of pairs.
        seed: NumPy seed.

    Returns:
        `pandas.DataFrame` with columns `source`, `target`, `form` (the form's
        pattern, weekday prefix included).

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
    case_ends = np.cumsum(list(CASES.values()))
    rows = []
    for offset in days:
        date = FIRST_DAY + datetime.timedelta(days=int(offset))
        form = pick(rng, forms_for(date))
        weekday = rng.random() < WEEKDAY_SHARE
        if weekday:
            form = pick(rng, WEEKDAY_PREFIXES) + form
        case = list(CASES)[int(np.searchsorted(case_ends, rng.random()))]
        source = typed_case(english_date(date, form, rng), case)
        rows.append((source, spanish_date(date, weekday), form))
    return pd.DataFrame(rows, columns=["source", "target", "form"])
