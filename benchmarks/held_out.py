"""Inputs the generators never drew: hand-typed dates and hand-drawn scenes.

`held_out_dates.tsv` holds English dates typed by hand, the way people
write them, with their Spanish long form (written by hand too; the tests
check each against `dateutil`'s reading of the English). None was produced
by `rnn_tasks.data.dates`. Scenes are drawn here with plain Pillow calls
(`ImageDraw.ellipse` / `rectangle` / `polygon`) on white, grey and black
canvases of several sizes, never with the project's scene generator.

Scores a SavedModel (`rnn-tasks export` output) of a `translation_dates` or
`captioning` run; `benchmarks/tasks.py` calls the same functions after
training:

    python benchmarks/held_out.py exports/dates/1
    python benchmarks/held_out.py exports/shapes/1
"""

import argparse
import json
from pathlib import Path

import numpy as np
import sacrebleu
import tensorflow as tf

HELD_OUT_DATES = Path(__file__).with_name("held_out_dates.tsv")
# The README's threshold: a translation scoring below it is flagged as unsure.
CONFIDENT_LOG_PROBABILITY = -1.0
NOT_DATES = ["hello world", "next tuesday", "tomorrow at noon", "the 45th of Smarch 2021",
             "2021", "March", "March 2021", "17/3", "13/13/2013", "32 January 2000"]


def read_held_out_dates(path=HELD_OUT_DATES):
    """`(sources, targets)`: the hand-typed English dates and their Spanish long forms."""
    pairs = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [source for source, _ in pairs], [target for _, target in pairs]


def texts(tensor):
    return [value.decode("utf-8") for value in tensor.numpy().tolist()]


def held_out_dates(signature, training_sources=()):
    """Exact match, BLEU and chrF of a dates SavedModel on the hand-typed dates, and how
    well `log_probability > CONFIDENT_LOG_PROBABILITY` separates right from wrong.

    Args:
        signature: the export's `serving_default`.
        training_sources: the run's training sources, to count held-out dates seen verbatim.
    """
    sources, targets = read_held_out_dates()
    outputs = signature(text=tf.constant(sources))
    translations, scores = texts(outputs["translation"]), outputs["log_probability"].numpy()
    right = np.array([t == r for t, r in zip(translations, targets)])
    confident = scores > CONFIDENT_LOG_PROBABILITY
    garbage = signature(text=tf.constant(NOT_DATES))["log_probability"].numpy()
    seen = {source.lower() for source in training_sources}
    return {
        "n": len(sources), "exact_match": round(float(right.mean()), 3),
        "bleu": round(sacrebleu.corpus_bleu(translations, [targets]).score, 1),
        "chrf": round(sacrebleu.corpus_chrf(translations, [targets]).score, 1),
        "seen_in_training": sum(source.lower() in seen for source in sources),
        "lowest_log_probability": round(float(scores.min()), 2),
        "confident_share": round(float(confident.mean()), 3),
        "exact_match_when_confident": round(float(right[confident].mean()), 3) if confident.any() else None,
        "wrong_flagged_unsure": round(float((~confident[~right]).mean()), 3) if (~right).any() else None,
        "not_dates_flagged_unsure": round(float((garbage <= CONFIDENT_LOG_PROBABILITY).mean()), 3),
        "wrong": [f"{s} -> {t} ({p:.2f})" for s, t, p, r in zip(sources, translations, scores, right)
                  if not r][:12],
    }


# Hand-drawn scenes: Pillow's own colour names and a few other inks per caption colour.
INKS = {"red": ("red", "crimson", "#e41a1c"), "green": ("green", "limegreen", "#2ca02c"),
        "blue": ("blue", "royalblue", "#1f77b4"), "yellow": ("yellow", "gold"),
        "white": ("white",), "black": ("black",)}
PAPERS = {"white": "white", "light grey": "#dcdcdc", "grey": "gray", "black": "black"}
CANVASES = ((64, 64), (48, 48), (100, 100), (128, 128), (200, 200), (256, 256), (160, 120), (120, 160))


def draw_scene(rng, paper):
    """One or two shapes drawn with `ImageDraw` on a `paper` canvas of a random size.

    Returns:
        `(PNG bytes, [the two phrasings of its caption])`.
    """
    import io

    from PIL import Image, ImageColor, ImageDraw

    width, height = CANVASES[rng.integers(len(CANVASES))]
    image = Image.new("RGB", (width, height), PAPERS[paper])
    draw, side = ImageDraw.Draw(image), min(width, height)
    background = np.array(ImageColor.getrgb(PAPERS[paper]))
    count, across = int(rng.integers(1, 3)), rng.random() < 0.5
    names = []
    for i in range(count):
        inks = {c: [i for i in INKS[c] if np.linalg.norm(ImageColor.getrgb(i) - background) > 110]
                for c in INKS}
        colour = rng.choice([c for c in inks if inks[c]])  # never close to the background
        ink = rng.choice(inks[colour])
        size = rng.choice(["small", "large"])
        radius = side * (rng.uniform(0.07, 0.1) if size == "small" else rng.uniform(0.16, 0.2))
        if count == 1:
            x, y = (rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height)
        else:  # the first shape left of (or above) the second
            along, other = 0.25 + 0.5 * i + rng.uniform(-0.03, 0.03), 0.5 + rng.uniform(-0.1, 0.1)
            x, y = (along * width, other * height) if across else (other * width, along * height)
        box = [x - radius, y - radius, x + radius, y + radius]
        shape = rng.choice(["circle", "square", "triangle"])
        if shape == "circle":
            draw.ellipse(box, fill=ink)
        elif shape == "square":
            draw.rectangle(box, fill=ink)
        else:
            draw.polygon([(x, y - radius), (x - radius, y + radius), (x + radius, y + radius)], fill=ink)
        names.append(f"{size} {colour} {shape}")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    if count == 1:
        return buffer.getvalue(), [f"a {names[0]}", f"one {names[0]}"]
    if across:
        return buffer.getvalue(), [f"a {names[0]} left of a {names[1]}",
                                   f"a {names[0]} to the left of a {names[1]}"]
    return buffer.getvalue(), [f"a {names[0]} above a {names[1]}", f"a {names[0]} on top of a {names[1]}"]


def hand_drawn_scenes(signature, per_paper=40, seed=7):
    """BLEU and exact match of a captioning SavedModel on scenes drawn with plain Pillow
    calls, overall and by background, and its caption of the README's example (a red
    circle left of a blue square on white)."""
    rng = np.random.default_rng(seed)
    scenes = [(paper, *draw_scene(rng, paper)) for paper in PAPERS for _ in range(per_paper)]
    papers, images, references = zip(*scenes)
    captions = texts(signature(image_bytes=tf.constant(images))["caption"])
    right = np.array([c in r for c, r in zip(captions, references)])
    by_paper = {p: round(float(right[[q == p for q in papers]].mean()), 3) for p in PAPERS}
    return {"n": len(images), "exact_match": round(float(right.mean()), 3),
            "bleu": round(sacrebleu.corpus_bleu(captions, [[r[0] for r in references],
                                                           [r[1] for r in references]]).score, 1),
            "exact_match_by_background": by_paper,
            "example_white_red_circle_blue_square": texts(signature(
                image_bytes=tf.constant([red_circle_blue_square()]))["caption"])[0],
            "wrong": [f"{r[0]} -> {c}" for c, r, ok in zip(captions, references, right) if not ok][:8]}


def red_circle_blue_square():
    """The README's example: a red circle left of a blue square on a white 128x128 canvas."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (128, 128), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse([10, 40, 54, 84], fill="red")
    draw.rectangle([74, 40, 118, 84], fill="blue")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", help="a SavedModel version folder")
    args = parser.parse_args()
    if not (Path(args.export) / "saved_model.pb").is_file():
        parser.error(f"{args.export} is not a SavedModel version folder (it has no saved_model.pb); "
                     "give one version of the export, e.g. exports/dates/1")
    signature = tf.saved_model.load(args.export).signatures["serving_default"]
    outputs = signature.structured_outputs
    if "translation" in outputs:
        print(json.dumps({"held_out_dates": held_out_dates(signature)}, ensure_ascii=False))
    elif "caption" in outputs:
        print(json.dumps({"hand_drawn_scenes": hand_drawn_scenes(signature)}))
    else:
        parser.error(f"{args.export} is not a translation or captioning export (its outputs: "
                     f"{', '.join(sorted(outputs))}); give a translation_dates or captioning export")


if __name__ == "__main__":
    main()
