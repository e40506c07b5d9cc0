"""Scenes of coloured shapes with captions (generator `shape_scenes`), drawn as users draw them.

A scene is one or two filled shapes (circle, square, triangle; red, green,
blue, yellow, white, black; small or large) on a light, mid-grey or dark
background, never in a colour close to the background's. The geometry lives
on a 64-unit square; the canvas is 64x64 pixels or any size from 48 to 256
pixels a side (some not square), which the model resizes in its graph. Some
scenes are drawn 2x or 4x and downsampled (antialiased), some get pixel noise,
some are saved as JPEG (block artefacts), the rest as PNG.

Captions name size, colour and shape, and for two shapes their relation,
the left (or upper) shape first: "a large red circle left of a small blue
square", "a large red circle to the left of a small blue square". Every
phrasing is a row: they are the image's references.
"""

import io

import numpy as np
import pandas as pd

# Caption colour -> the shades it is drawn in: ours, and Pillow's named colour
# ("red" is (255, 0, 0), "green" (0, 128, 0)); each drawn shade is jittered.
COLOURS = {
    "red": ((220, 40, 40), (255, 0, 0)), "green": ((40, 190, 60), (0, 128, 0)),
    "blue": ((50, 80, 235), (0, 0, 255)), "yellow": ((235, 215, 40), (255, 255, 0)),
    "white": ((235, 235, 235), (255, 255, 255)), "black": ((25, 25, 25), (0, 0, 0)),
}
SHADE_JITTER = 25  # per channel
BACKGROUNDS = {"light": (205, 255), "mid": (90, 170), "dark": (0, 45)}  # grey levels, then tinted
PURE_WHITE_SHARE = 0.3  # of light backgrounds: exactly (255, 255, 255), as a new Pillow canvas
MIN_CONTRAST = 110  # least RGB distance between a shape's shade and its background
SHAPES = ("circle", "square", "triangle")
UNIT = 64  # the geometry's square, in units
SIZES = {"small": (4, 7), "large": (10, 13)}  # half-widths in units
CANVAS_SIDES = (48, 256)  # pixels, for the scenes not drawn on 64x64
ASPECTS = (0.8, 1.25)  # height / width of the canvases that are not square
NOISE_SIGMAS = (2.0, 10.0)  # Gaussian pixel noise, per channel
JPEG_QUALITIES = (30, 90)
SHARES = {"square_64": 0.4, "not_square": 0.3, "antialiased": 0.5, "noise": 0.3, "jpeg": 0.3}


def shape_scenes(count, seed):
    """`count` scenes of one or two shapes (PNG or JPEG bytes) with their captions.

    Args:
        count: number of images.
        seed: NumPy seed.

    Returns:
        `pandas.DataFrame` with columns `image` (PNG or JPEG bytes), `caption`,
        one row per (image, phrasing).

    Example:
    >>> frame = shape_scenes(3, seed=0)
    >>> frame["image"].nunique(), len(frame)  # two phrasings of each scene's caption
    (3, 6)
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        image, captions = scene(rng)
        rows += [(image, caption) for caption in captions]
    return pd.DataFrame(rows, columns=["image", "caption"])


def scene(rng):
    """One random scene: `(encoded image, [caption phrasings])`."""
    background = random_background(rng)
    shapes = [random_shape(rng, background) for _ in range(rng.integers(1, 3))]
    relation = place(rng, shapes)
    width, height = random_canvas(rng)
    pixels = render(shapes, background, width, height, antialiased=rng.random() < SHARES["antialiased"])
    if rng.random() < SHARES["noise"]:
        noise = rng.normal(0.0, rng.uniform(*NOISE_SIGMAS), pixels.shape)
        pixels = np.clip(pixels + noise, 0, 255).astype(np.uint8)
    return encode(rng, pixels), captions(shapes, relation)


def random_background(rng):
    """A light, mid-grey or dark RGB background, slightly tinted."""
    low, high = BACKGROUNDS[list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]]
    if high == 255 and rng.random() < PURE_WHITE_SHARE:
        return (255, 255, 255)
    grey = rng.integers(low, high + 1)
    return tuple(int(v) for v in np.clip(grey + rng.integers(-10, 11, 3), 0, 255))


def contrast(rgb, background):
    return float(np.linalg.norm(np.subtract(rgb, background)))


def random_shape(rng, background):
    """A shape, size and colour whose drawn shade is at least `MIN_CONTRAST` from `background`."""
    while True:
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        base = COLOURS[colour][rng.integers(len(COLOURS[colour]))]
        shade = np.clip(np.add(base, rng.integers(-SHADE_JITTER, SHADE_JITTER + 1, 3)), 0, 255)
        if contrast(shade, background) >= MIN_CONTRAST:
            break
    size = list(SIZES)[rng.integers(len(SIZES))]
    return {"shape": SHAPES[rng.integers(len(SHAPES))], "colour": colour, "size": size,
            "rgb": tuple(int(v) for v in shade), "half": int(rng.integers(*SIZES[size], endpoint=True))}


def place(rng, shapes):
    """Sets centres (in units); for two shapes orders them left-to-right or top-to-bottom.

    Returns:
        `"left"` or `"above"` for two shapes (the first is left of / above the
        second, clearly apart on that axis and closer on the other), else `None`.
    """
    if len(shapes) == 1:
        half = shapes[0]["half"]
        shapes[0]["centre"] = tuple(int(v) for v in rng.integers(half + 1, UNIT - half - 1, 2))
        return None
    relation = "left" if rng.random() < 0.5 else "above"
    axis = 0 if relation == "left" else 1
    (h0, h1), centres = (shapes[0]["half"], shapes[1]["half"]), [[0, 0], [0, 0]]
    along = int(rng.integers(h0 + 1, UNIT - h1 - 2 - (h0 + h1 + 3), endpoint=True))
    centres[0][axis] = along
    centres[1][axis] = int(rng.integers(along + h0 + h1 + 3, UNIT - h1 - 2, endpoint=True))
    gap = centres[1][axis] - along
    across = int(rng.integers(h0 + 1, UNIT - h0 - 2, endpoint=True))
    centres[0][1 - axis] = across
    centres[1][1 - axis] = int(rng.integers(max(h1 + 1, across - gap // 2),
                                            min(UNIT - h1 - 2, across + gap // 2), endpoint=True))
    for shape, centre in zip(shapes, centres):
        shape["centre"] = tuple(int(v) for v in centre)
    return relation


def random_canvas(rng):
    """`(width, height)` in pixels: 64x64, or a side in `CANVAS_SIDES` (log-uniform: every
    scale as likely), some not square."""
    if rng.random() < SHARES["square_64"]:
        return UNIT, UNIT
    width = round(float(np.exp(rng.uniform(*np.log(CANVAS_SIDES)))))
    aspect = rng.uniform(*ASPECTS) if rng.random() < SHARES["not_square"] else 1.0
    return width, max(CANVAS_SIDES[0], min(CANVAS_SIDES[1], round(width * aspect)))


def render(shapes, background, width, height, antialiased):
    """The shapes filled on a `width` x `height` canvas: uint8 `[height, width, 3]`.

    Centres map to the canvas along each axis; shapes keep their proportions
    (a circle stays round on a canvas that is not square).
    """
    from PIL import Image, ImageDraw

    scale = (4 if max(width, height) <= 128 else 2) if antialiased else 1
    image = Image.new("RGB", (width * scale, height * scale), background)
    draw = ImageDraw.Draw(image)
    unit_x, unit_y = width * scale / UNIT, height * scale / UNIT
    for shape in shapes:
        (cx, cy), half = shape["centre"], shape["half"] * min(unit_x, unit_y)
        x, y = (cx + 0.5) * unit_x, (cy + 0.5) * unit_y
        box = [x - half, y - half, x + half, y + half]
        if shape["shape"] == "circle":
            draw.ellipse(box, fill=shape["rgb"])
        elif shape["shape"] == "square":
            draw.rectangle(box, fill=shape["rgb"])
        else:
            draw.polygon([(x, y - half), (x - half, y + half), (x + half, y + half)], fill=shape["rgb"])
    if scale > 1:
        image = image.reduce(scale)  # each pixel the mean of scale x scale drawn ones
    return np.asarray(image)


def encode(rng, pixels):
    """PNG bytes, or JPEG bytes of a random quality for `SHARES["jpeg"]` of the scenes."""
    from PIL import Image

    buffer = io.BytesIO()
    if rng.random() < SHARES["jpeg"]:
        Image.fromarray(pixels).save(buffer, format="JPEG",
                                     quality=int(rng.integers(*JPEG_QUALITIES, endpoint=True)))
    else:
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def captions(shapes, relation):
    """The scene's two phrasings."""
    names = [f"{s['size']} {s['colour']} {s['shape']}" for s in shapes]
    if len(shapes) == 1:
        return [f"a {names[0]}", f"one {names[0]}"]
    if relation == "left":
        return [f"a {names[0]} left of a {names[1]}", f"a {names[0]} to the left of a {names[1]}"]
    return [f"a {names[0]} above a {names[1]}", f"a {names[0]} on top of a {names[1]}"]
