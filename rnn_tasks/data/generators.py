"""Datasets that rnn_tasks makes itself (catalog source kind `generator`), seeded.

`english_spanish_dates` (rnn_tasks/data/dates.py): English dates as people
type them -> their Spanish long form. `shape_scenes` (rnn_tasks/data/scenes.py):
scenes of coloured shapes, drawn as users draw them, with captions.
"""

from rnn_tasks.data.dates import english_spanish_dates
from rnn_tasks.data.scenes import shape_scenes
from rnn_tasks.errors import UserError


GENERATORS = {"english_spanish_dates": english_spanish_dates, "shape_scenes": shape_scenes}


def generate(name, source):
    """Runs the card's generator: `source` has `generator`, `count`, `seed`."""
    if source["generator"] not in GENERATORS:
        raise UserError(f"dataset {name!r}: unknown generator {source['generator']!r} "
                        f"(known: {', '.join(GENERATORS)})")
    return GENERATORS[source["generator"]](int(source["count"]), int(source.get("seed", 0)))
