"""CaptioningTask end to end: generated scenes, image layouts, metrics, export, CLI."""

import io
import json
import re
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
import sacrebleu
import tensorflow as tf
from PIL import Image, ImageDraw

from rnn_tasks.data import catalog
from rnn_tasks.data.scenes import COLOURS, shape_scenes
from rnn_tasks.preprocessing.images import DecodeImages
from rnn_tasks.errors import UserError
from rnn_tasks.export import non_core_ops
from rnn_tasks.templates import CaptioningTask, Task
from tests.helpers import cli, serve_in_tensorflow_only_process

TINY = {"train.epochs": 2, "model.units": 16, "model.embedding_dim": 8, "model.filters": [8, 8],
        "train.batch_size": 32, "train.patience": 0, "data.image_size": 32,
        "decode.method": "beam", "decode.beam_width": 2, "export.warmup_examples": 2}


def png(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def drawn_elsewhere():
    """Scenes drawn here with plain Pillow calls, not by the project's generator: dark and
    white canvases, 64x64 and other sizes, PNG and JPEG."""
    red_circle = Image.new("RGB", (64, 64), (10, 10, 10))
    ImageDraw.Draw(red_circle).ellipse([20, 20, 44, 44], fill=(230, 30, 30))
    blue_square = Image.new("RGB", (64, 64), (0, 0, 30))
    ImageDraw.Draw(blue_square).rectangle([10, 25, 22, 37], fill=(40, 70, 240))
    on_white = Image.new("RGB", (200, 150), "white")  # the README's example, on a larger canvas
    ImageDraw.Draw(on_white).ellipse([20, 45, 80, 105], fill="red")
    ImageDraw.Draw(on_white).rectangle([120, 45, 180, 105], fill="blue")
    jpeg = io.BytesIO()
    on_grey = Image.new("RGB", (48, 48), "gray")
    ImageDraw.Draw(on_grey).polygon([(24, 8), (8, 40), (40, 40)], fill="yellow")
    on_grey.save(jpeg, format="JPEG", quality=60)
    return [png(red_circle), png(blue_square), png(on_white), jpeg.getvalue()]


def write_captions_table(folder, count=240):
    """A Flickr8k-style layout: an image folder and a captions.csv, several rows per image."""
    scenes = shape_scenes(count, seed=0)
    names = {image: f"img_{i}.png" for i, image in enumerate(scenes["image"].unique())}
    (folder / "images").mkdir()
    for image, name in names.items():
        (folder / "images" / name).write_bytes(image)
    table = pd.DataFrame({"image": [f"images/{names[i]}" for i in scenes["image"]],
                          "caption": scenes["caption"]})
    table.to_csv(folder / "captions.csv", index=False)
    return folder / "captions.csv"


@pytest.fixture(scope="module")
def captions_table(captions_csv):
    return captions_csv


@pytest.fixture(scope="module")
def trained(captioning_run):
    """The session's tiny trained run (tests/conftest.py)."""
    return captioning_run


def pixels_64(image_bytes):
    """The image as the model sees its size (Pillow's reading, not TensorFlow's): int [64, 64, 3]."""
    image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    return np.asarray(image.resize((64, 64), Image.BOX)).astype(int)


def ink_mask(pixels):
    """`(background rgb, mask of pixels far from it)`: the background is the border's median."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    return background, np.linalg.norm(pixels - background, axis=-1) > 60


def nearest_colour(rgb):
    """The caption colour whose nearest shade is nearest: a name, or an array of names for
    an array of pixels."""
    names = np.array([name for name in COLOURS for _ in COLOURS[name]])
    shades = np.array([shade for name in COLOURS for shade in COLOURS[name]])
    distances = np.sum((np.asarray(rgb)[..., None, :] - shades) ** 2, axis=-1)
    return names[np.argmin(distances, axis=-1)]


def extent(mask):
    """Largest span, in pixels, of rows or columns holding at least two ink pixels."""
    spans = [np.flatnonzero(mask.sum(axis=axis) >= 2) for axis in (0, 1)]
    return max(span.max() - span.min() + 1 for span in spans)


def test_a_data_frame_of_pathlib_paths_names_image_files(tmp_path):
    table = pd.read_csv(write_captions_table(tmp_path, count=30))
    table["image"] = [tmp_path / name for name in table["image"]]  # was: "got PosixPath values"
    task = CaptioningTask.from_recipe("captioning", TINY, data=table)
    task.prepare()
    images = np.concatenate([images for images, _ in task.data.splits.values()])
    assert len(images) == len(table) and {type(image) for image in images} == {bytes}


def test_captions_come_back_spaced_as_written():
    """Without joiners a caption came back as "the dog ' s black - and - white toy": the
    training caption, vectorized, then detokenized as the model's output is."""
    captions = ["the dog's black-and-white toy, 3.5 m wide", "« ça va » !", "a red circle"]
    frame = shape_scenes(30, seed=6)
    frame["caption"] = [captions[row % 3] for row in range(len(frame))]
    task = CaptioningTask.from_recipe("captioning", TINY, data=frame)
    task.prepare()
    layers = task.preprocessing_layers()
    ids = layers["caption_vectorizer"](layers["caption_tokenize"](tf.constant(captions)))
    text = task.detokenize(ids[:, 1:], task.decoding())  # after the start token
    assert [t.decode() for t in text.numpy()] == [captions[0], "« ça va » !", "a red circle"]


def test_captions_too_long_to_fit_are_named_with_the_limit_to_raise():
    frame = shape_scenes(30, seed=6)
    frame["caption"] = "a small red circle left of a big blue square"  # 10 tokens
    with pytest.raises(UserError, match="^data: no caption fits max_caption_length=6 tokens; the "
                                        "shortest has 10: raise it$"):
        CaptioningTask.from_recipe("captioning", {**TINY, "data.max_caption_length": 6},
                                   data=frame).prepare()
    frame.loc[:1, "caption"] = "a red circle"  # one image (two captions) left: a split is empty
    with pytest.raises(UserError, match=", or raise data.max_caption_length: 58 of 60 captions "
                                        "are longer$"):
        CaptioningTask.from_recipe("captioning", {**TINY, "data.max_caption_length": 6},
                                   data=frame).prepare()


def test_generated_captions_describe_the_pixels():
    scenes = shape_scenes(200, seed=4)
    checked, backgrounds = 0, set()
    for image, group in scenes.groupby("image", sort=False):
        caption = group["caption"].iloc[0]
        pixels = pixels_64(image)
        background, ink = ink_mask(pixels)
        backgrounds.add("dark" if background.mean() < 60 else "light" if background.mean() > 190
                        else "mid")
        words = caption.split()
        if len(words) == 4:  # one shape: "a large red circle"
            size, colour = words[1], words[2]
            assert nearest_colour(np.median(pixels[ink], axis=0)) == colour, caption
            assert (extent(ink) >= 19) if size == "large" else (extent(ink) <= 18), (caption, extent(ink))
            checked += 1
        elif "left" in words and words[2] != words[-2]:  # two colours side by side
            first, second = words[2], words[-2]
            names = nearest_colour(pixels)
            xs = {c: np.flatnonzero((names == c) & ink) % 64 for c in (first, second)}
            assert xs[first].mean() < xs[second].mean(), caption
            checked += 1
    assert checked > 60
    assert backgrounds == {"dark", "mid", "light"}
    assert set(" ".join(scenes["caption"]).split()) >= {"circle", "square", "triangle", "left",
                                                          "above", "small", "large", "white", "black"}


def test_generated_scenes_vary_canvas_format_and_keep_ink_off_the_background():
    scenes = shape_scenes(150, seed=5)["image"].unique()
    opened = [Image.open(io.BytesIO(image)) for image in scenes]
    assert {image.format for image in opened} == {"PNG", "JPEG"}
    sizes = {image.size for image in opened}
    assert (64, 64) in sizes and any(w > 100 for w, _ in sizes) and any(w != h for w, h in sizes)
    for image in scenes:  # the ink is always clearly apart from the paper
        pixels = pixels_64(image)
        background, ink = ink_mask(pixels)
        assert ink.sum() >= 6


def test_decode_images_reads_png_and_jpeg_grey_and_rgba():
    image = Image.new("RGBA", (40, 20), (255, 0, 0, 255))
    jpeg = io.BytesIO()
    Image.new("L", (16, 16), 128).save(jpeg, format="JPEG")
    decoded = DecodeImages(8)(tf.constant([png(image), jpeg.getvalue()])).numpy()
    assert decoded.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(decoded[0, 4, 4], [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(decoded[1, 4, 4], [128 / 255] * 3, atol=0.02)


def test_pillow_scenes_of_other_sizes_reach_the_model_as_drawn():
    """The README's example (a red circle left of a blue square on white, 200x150) shrinks
    in the graph to what the generator draws at 64x64: white paper, red left, blue right."""
    decoded = DecodeImages(64)(tf.constant([drawn_elsewhere()[2]])).numpy()[0] * 255
    np.testing.assert_allclose(decoded[2, 2], [255, 255, 255], atol=1)
    np.testing.assert_allclose(decoded[32, 16], [255, 0, 0], atol=2)   # centre of the circle
    np.testing.assert_allclose(decoded[32, 48], [0, 0, 255], atol=2)   # centre of the square
    reference = np.asarray(Image.open(io.BytesIO(drawn_elsewhere()[2])).resize((64, 64), Image.BOX))
    assert np.abs(decoded - reference).mean() < 3  # antialiased like an area average
    assert nearest_colour(decoded[32, 16]) == "red" and nearest_colour(decoded[32, 48]) == "blue"


def test_metrics_agree_with_sacrebleu_on_the_captions(trained):
    task, run_dir, metrics = trained
    images, captions = task.data.splits["test"]
    references = {}
    for image, caption in zip(images, captions):
        references.setdefault(image, []).append(caption)
    generated = task.generate(list(references))
    width = max(map(len, references.values()))
    streams = [[r[i] if i < len(r) else None for r in references.values()] for i in range(width)]
    assert metrics["bleu"] == pytest.approx(sacrebleu.corpus_bleu(generated, streams).score)
    assert metrics["exact_match"] == pytest.approx(
        np.mean([g in r for g, r in zip(generated, references.values())]))
    assert metrics["n_examples"] == len(references) and metrics["n_captions"] == len(captions)
    for name in ("model.keras", "metrics.json", "history.csv", "report.md", "plots/captions.png",
                 "plots/training_curves.png"):
        assert (run_dir / name).is_file(), name


def test_split_keeps_an_image_and_its_captions_together(trained):
    task, _, _ = trained
    seen = {}
    for split, (images, _) in task.data.splits.items():
        for image in images:
            seen.setdefault(image, set()).add(split)
    assert all(len(splits) == 1 for splits in seen.values())
    assert sum(len(images) for images, _ in task.data.splits.values()) == 480  # 2 per image


def test_copies_of_one_image_are_too_few_to_split(captions_table, tmp_path):
    table = pd.read_csv(captions_table).head(6)
    table["image"] = str(captions_table.parent / table["image"][0])  # one image, six captions
    table.to_csv(tmp_path / "one_image.csv", index=False)
    task = CaptioningTask.from_recipe("captioning", {"data.path": str(tmp_path / "one_image.csv")})
    with pytest.raises(UserError, match=r"the 6 usable rows hold 1 distinct image\(s\), and all "
                                        r"rows of one go to one split .*; use data with more image"):
        task.prepare()


def test_save_load_round_trip(trained):
    task, run_dir, _ = trained
    loaded = Task.load(run_dir)
    assert type(loaded) is CaptioningTask
    images = drawn_elsewhere()
    assert loaded.generate(images) == task.generate(images)


def test_export_captions_foreign_pngs_in_a_tensorflow_only_process(trained, tmp_path):
    task, _, _ = trained
    path = task.export(tmp_path / "models")
    assert non_core_ops(path) == []
    images = drawn_elsewhere()
    served = serve_in_tensorflow_only_process(path, {"image_bytes": images}, tmp_path)
    assert served["caption"] == task.generate(images)


def test_corrupt_image_bytes_are_a_clear_error(trained, tmp_path):
    task, _, _ = trained
    good = drawn_elsewhere()[0]
    with pytest.raises(UserError, match="predict: image 1 is not a PNG or JPEG image"):
        task.predict([good, b"hello"])
    with pytest.raises(UserError, match="predict: image 0 cannot be decoded") as error:
        task.predict([good[:40]])
    assert "[Op:" not in str(error.value) and "{{" not in str(error.value)  # no op names
    with pytest.raises(UserError, match=r"image 0 is the string 'cat.png': images are the file's "
                                        r"bytes \(`open\(path, 'rb'\).read\(\)`\), not its path"):
        task.predict(["cat.png"])
    bomb = huge_png_header(20000, 20000)  # 400 million pixels named in 33 bytes
    with pytest.raises(UserError, match=re.escape(
            "predict: image 0 has 400,000,000 pixels, more than the 89,478,485 allowed")):
        task.predict([bomb])
    with pytest.raises(UserError, match=re.escape(f"has {2**62:,} pixels")):  # no int64 overflow
        task.predict([huge_png_header(2**32 - 1, 2**32 - 1)])
    signature = tf.saved_model.load(str(task.export(tmp_path / "m"))).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError):  # a failed request, not a dead server
        signature(image_bytes=tf.constant([good[:40]]))
    # Refused from the header, before decoding, as predict refuses them: not served.
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")  # tf.io.decode_image would read it
    for data, message in ((bomb, "pixels, more than the 89478485 allowed"),
                          (gif.getvalue(), "image bytes are not a PNG or JPEG image")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
            signature(image_bytes=tf.constant([good, data]))
    assert signature(image_bytes=tf.constant([good]))["caption"].shape == (1,)
    # An empty batch (oneDNN's convolution alone fails on one) gets empty outputs.
    assert signature(image_bytes=tf.constant([], tf.string))["caption"].shape == (0,)
    empty = task.predict([])
    captions = task.predict([good])["caption"].tolist()
    for same in (pd.Series([good]), [memoryview(good)], memoryview(good), bytearray(good)):
        assert task.predict(same)["caption"].tolist() == captions
    assert empty["caption"].shape == (0,) and empty["log_probability"].shape == (0,)


def huge_png_header(width, height):
    """The signature and IHDR chunk of a PNG naming a `width` x `height` RGB canvas."""
    fields = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + fields + struct.pack(">I", zlib.crc32(fields))


def test_missing_and_unreadable_images_are_named(captions_table, tmp_path):
    table = pd.read_csv(captions_table)
    table.loc[3, "image"] = "images/missing.png"
    table.to_csv(tmp_path / "missing.csv", index=False)
    task = CaptioningTask.from_recipe("captioning", {**TINY, "data.path": str(tmp_path / "missing.csv"),
                                                     "data.image_dir": str(captions_table.parent)})
    with pytest.raises(UserError, match=re.escape(
            f"column 'image' names 1 image file(s) not in {captions_table.parent.resolve()} "
            "(data.image_dir), e.g. 'images/missing.png'; set data.image_dir to the folder")):
        task.prepare()
    (tmp_path / "notes.png").write_text("not an image")
    pd.DataFrame({"image": ["notes.png"], "caption": ["a note"]}).to_csv(tmp_path / "bad.csv", index=False)
    task = CaptioningTask.from_recipe("captioning", {**TINY, "data.path": str(tmp_path / "bad.csv")})
    with pytest.raises(UserError, match="notes.png is not a PNG or JPEG image"):
        task.prepare()
    table = pd.read_csv(captions_table).head(30)
    table["image"] = [(captions_table.parent / name).read_bytes() for name in table["image"]]
    table.loc[17, "image"] = table.loc[17, "image"][:60]  # truncated: a PNG only to its header
    table.loc[21, "image"] = b""
    task = CaptioningTask.from_recipe("captioning", TINY, data=table)
    with pytest.raises(UserError, match="the 'image' value at index 17 cannot be decoded"):
        task.prepare()  # every image, not the first only: before training, not in it
    task = CaptioningTask.from_recipe("captioning", TINY, data=table.drop(index=17))
    with pytest.raises(UserError, match="the 'image' value at index 21 is empty \\(0 bytes\\), not an image"):
        task.prepare()


def test_backbone_without_weights_is_a_clear_error(captions_table, monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.applications, "MobileNetV3Small", offline)
    task = CaptioningTask.from_recipe("captioning", {**TINY, "data.path": str(captions_table),
                                                     "model.backbone": "mobilenet_v3_small"})
    with pytest.raises(UserError, match="cannot load weights 'imagenet' .*backbone_weights=FILE"):
        task.fit(verbose=0)


def test_coco_card_reads_one_row_per_caption_with_image_bytes(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    from rnn_tasks.data.tfds import read_tfds

    images = drawn_elsewhere()

    def as_dataset(self, *args, **kwargs):
        return tf.data.Dataset.from_generator(
            lambda: ({"image": images[i], "image/filename": f"{i}.png", "image/id": i,
                      "captions": {"id": [1, 2], "text": [f"caption {i}a", f"caption {i}b"]}}
                     for i in range(2)),
            output_signature={"image": tf.TensorSpec([], tf.string),
                              "image/filename": tf.TensorSpec([], tf.string),
                              "image/id": tf.TensorSpec([], tf.int64),
                              "captions": {"id": tf.TensorSpec([None], tf.int64),
                                           "text": tf.TensorSpec([None], tf.string)}})

    source = catalog.load_card("coco_captions")["source"] | {"data_dir": str(tmp_path)}
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        frame = read_tfds("coco_captions", source)
    assert list(frame.columns) == ["image", "caption", "split"]
    assert len(frame) == 8  # 2 splits x 2 images x 2 captions
    assert frame["caption"].tolist()[:2] == ["caption 0a", "caption 0b"]
    assert frame["image"].iloc[0] == images[0]


def test_cli_train_predict_files_export(captions_table, tmp_path, capsys):
    run_dir = tmp_path / "run"
    sets = [x for k, v in {**TINY, "train.epochs": 1, "data.path": json.dumps(str(captions_table))}.items()
            for x in ("--set", f"{k}={json.dumps(v) if isinstance(v, list) else v}")]
    status, _, _ = cli(capsys, "train", "captioning", "--run-dir", run_dir, *sets)
    assert status == 0
    files = []
    for i, image in enumerate(drawn_elsewhere()):
        suffix = "jpg" if image.startswith(b"\xff\xd8") else "png"
        files.append(tmp_path / f"scene{i}.{suffix}")
        files[-1].write_bytes(image)
    status, from_run, _ = cli(capsys, "predict", run_dir, *files)
    assert status == 0 and len(json.loads(from_run)["caption"]) == 4
    cli(capsys, "export", run_dir, "--to", tmp_path / "models")
    status, served, _ = cli(capsys, "predict", tmp_path / "models" / "1", *files)
    assert status == 0 and json.loads(served) == json.loads(from_run)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    status, _, err = cli(capsys, "predict", run_dir, tmp_path / "broken.png")
    assert status == 2 and "cannot be decoded" in err and err.count("\n") == 1


def test_rows_without_an_image_or_a_caption_are_dropped_and_counted(captions_table):
    table = pd.read_csv(captions_table)
    table.loc[[2, 5], "caption"] = [None, "  "]
    table.loc[7, "image"] = None
    task = CaptioningTask.from_recipe("captioning", {**TINY, "data.image_dir": str(captions_table.parent)},
                                      data=table)
    task.prepare()
    assert task.data.dropped["missing_image_or_caption"] == 3
    assert sum(len(captions) for _, captions in task.data.splits.values()) + 3 == len(table) - \
        task.data.dropped["long_captions"]
