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




# Shape scenes for captioning ------------------------------------------------------------

COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 235),
           "yellow": (235, 215, 40), "white": (235, 235, 235)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": (4, 7), "large": (10, 13)}  # half-widths in pixels (64 x 64 canvas)


def shape_scenes(count, seed, size=64):
    """`count` PNG scenes of one or two shapes on a dark background, with captions.

    Colour shades, sizes, positions, background and antialiasing vary, so a
    model has to learn the concepts rather than the pixels. Captions name
    size, colour and shape, and for two shapes their relation, the left (or
    upper) shape first: "a large red circle left of a small blue square",
    "a large red circle to the left of a small blue square". Every phrasing is
    a row: they are the image's references.

    Args:
        count: number of images.
        seed: NumPy seed.
        size: image width and height in pixels.

    Returns:
        `pandas.DataFrame` with columns `image` (PNG bytes), `caption`,
        one row per (image, phrasing).

    Example:
    >>> frame = shape_scenes(3, seed=0)
    >>> frame["image"].nunique(), len(frame)  # two phrasings of each scene's caption
    (3, 6)
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        png, captions = _scene(rng, size)
        rows += [(png, caption) for caption in captions]
    return pd.DataFrame(rows, columns=["image", "caption"])


def _scene(rng, size):
    import io

    from PIL import Image, ImageDraw

    shapes = [_random_shape(rng) for _ in range(rng.integers(1, 3))]
    relation = _place(rng, shapes, size)
    scale = 4 if rng.random() < 0.5 else 1  # drawn 4x and downsampled: antialiased
    background = tuple(int(v) for v in rng.integers(0, 45, 3))
    image = Image.new("RGB", (size * scale, size * scale), background)
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        _draw(draw, shape, scale)
    if scale > 1:
        image = image.resize((size, size), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    names = [f"{s['size']} {s['colour']} {s['shape']}" for s in shapes]
    if len(shapes) == 1:
        captions = [f"a {names[0]}", f"one {names[0]}"]
    elif relation == "left":
        captions = [f"a {names[0]} left of a {names[1]}", f"a {names[0]} to the left of a {names[1]}"]
    else:
        captions = [f"a {names[0]} above a {names[1]}", f"a {names[0]} on top of a {names[1]}"]
    return buffer.getvalue(), captions


def _random_shape(rng):
    colour = str(rng.choice(list(COLOURS)))
    size = str(rng.choice(list(SIZES)))
    shade = np.clip(np.array(COLOURS[colour]) + rng.integers(-25, 26, 3), 0, 255)
    return {"shape": str(rng.choice(SHAPES)), "colour": colour, "size": size,
            "rgb": tuple(int(v) for v in shade), "half": int(rng.integers(*SIZES[size], endpoint=True))}


def _place(rng, shapes, size):
    """Sets centres; for two shapes orders them left-to-right or top-to-bottom.

    Returns:
        `"left"` or `"above"` for two shapes (the first is left of / above the
        second, clearly apart on that axis and closer on the other), else `None`.
    """
    if len(shapes) == 1:
        half = shapes[0]["half"]
        shapes[0]["centre"] = tuple(int(v) for v in rng.integers(half + 1, size - half - 1, 2))
        return None
    relation = "left" if rng.random() < 0.5 else "above"
    axis = 0 if relation == "left" else 1
    (h0, h1), centres = (shapes[0]["half"], shapes[1]["half"]), [[0, 0], [0, 0]]
    along = int(rng.integers(h0 + 1, size - h1 - 2 - (h0 + h1 + 3), endpoint=True))
    centres[0][axis] = along
    centres[1][axis] = int(rng.integers(along + h0 + h1 + 3, size - h1 - 2, endpoint=True))
    gap = centres[1][axis] - along
    across = int(rng.integers(h0 + 1, size - h0 - 2, endpoint=True))
    centres[0][1 - axis] = across
    centres[1][1 - axis] = int(rng.integers(max(h1 + 1, across - gap // 2),
                                            min(size - h1 - 2, across + gap // 2), endpoint=True))
    for shape, centre in zip(shapes, centres):
        shape["centre"] = tuple(int(v) for v in centre)
    return relation


def _draw(draw, shape, scale):
    (x, y), half, rgb = shape["centre"], shape["half"], shape["rgb"]
    x, y, half = x * scale, y * scale, half * scale
    if shape["shape"] == "circle":
        draw.ellipse([x - half, y - half, x + half, y + half], fill=rgb)
    elif shape["shape"] == "square":
        draw.rectangle([x - half, y - half, x + half, y + half], fill=rgb)
    else:
        draw.polygon([(x, y - half), (x - half, y + half), (x + half, y + half)], fill=rgb)


GENERATORS = {"english_spanish_dates": english_spanish_dates, "shape_scenes": shape_scenes}


def generate(name, source):
    """Runs the card's generator: `source` has `generator`, `count`, `seed`."""
    if source["generator"] not in GENERATORS:
        raise UserError(f"dataset {name!r}: unknown generator {source['generator']!r} "
                        f"(known: {', '.join(GENERATORS)})")
    return GENERATORS[source["generator"]](int(source["count"]), int(source.get("seed", 0)))
