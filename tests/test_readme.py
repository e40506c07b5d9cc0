"""Every Python block and every `rnn-tasks` line of the README runs as written (training
shortened with tiny `--set` overrides), in a folder holding the files they name."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from rnn_tasks.cli import main
from tests.test_captioning import write_captions_table
from tests.test_forecasting import write_prices
from tests.test_sentiment import write_reviews
from tests.test_translation import write_pairs

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, flags=re.S)
TINY = {"forecasting": ["data.window=20"], "sentiment": ["data.sequence_length=16"],
        "translation": ["model.embedding_dim=8", "decode.beam_width=2"],
        "captioning": ["model.filters=[4]", "data.image_size=32", "model.embedding_dim=8"]}
TEMPLATE_OF = {"price_forecasting": "forecasting", "stocks_global": "forecasting",
               "sentiment": "sentiment", "translation_dates": "translation",
               "translation": "translation", "translation_fra": "translation",
               "captioning": "captioning"}


def commands():
    """`rnn-tasks ...` lines of the README's shell blocks, comments removed, in order."""
    lines = []
    for language, text in BLOCKS:
        if language == "python":
            continue
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            # Placeholders (RUN, EXPORT_DIR) and the two-machine TF_CONFIG example
            # (tests/test_distribute.py runs two workers) are not lines to type as they are.
            if (line.startswith("rnn-tasks ") and "RUN" not in line and "EXPORT_DIR" not in line
                    and "multi_worker" not in line):
                lines.append(line)
    return lines


def shortened(args):
    """A `train` command with one epoch, four units and the template's tiny sizes."""
    if args[0] != "train":
        return args
    template = TEMPLATE_OF[Path(args[1]).stem]
    extra = ["train.epochs=1", "model.units=4", "export.warmup_examples=2", *TINY[template]]
    return args + [x for item in extra for x in ("--set", item)]


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory):
    """A folder with the files the README's commands name."""
    folder = tmp_path_factory.mktemp("user")
    os.symlink(ROOT / "tasks", folder / "tasks")
    prices = pd.read_csv(write_prices(folder / "my_prices.csv", rows=120))
    prices.drop(columns="Ticker").to_csv(folder / "my_prices.csv", index=False)
    (folder / "reviews.txt").write_text("A dull, tedious film.\nSuperb and moving.\n")
    write_reviews(folder / "labelled.csv", rows=60, labels=(0, 1), extra_label=2)
    write_pairs(folder / "spa.txt", count=300)
    write_pairs(folder / "fra_eng.tsv", count=300, seed=2)
    write_pairs(folder / "other_pairs.tsv", count=40, seed=1)
    Image.new("RGB", (64, 64), (255, 255, 255)).save(folder / "scene.png")
    Image.new("RGB", (80, 60), (20, 20, 200)).save(folder / "photo.jpg")
    (folder / "flickr8k").mkdir()
    write_captions_table(folder / "flickr8k", count=60).rename(folder / "flickr8k" / "captions.txt")
    return folder


def test_the_readme_has_what_this_file_runs():
    assert sum(language == "python" for language, _ in BLOCKS) >= 3
    assert len(commands()) >= 20


def test_every_rnn_tasks_line_runs(user_folder, monkeypatch, capsys):
    monkeypatch.chdir(user_folder)
    for line in commands():
        args = shortened(shlex.split(line)[1:])
        status = main(args)
        _, err = capsys.readouterr()
        if "--resume" in args:  # the README's "after a crash" line, on a run that finished
            assert status == 2 and "is a finished run" in err, line
        else:
            assert status == 0, f"{line}: {err}"


@pytest.mark.parametrize("index", [i for i, (language, _) in enumerate(BLOCKS) if language == "python"])
def test_every_python_block_runs_in_a_fresh_process(user_folder, index):
    code = BLOCKS[index][1]
    result = subprocess.run([sys.executable, "-c", code], cwd=user_folder, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
