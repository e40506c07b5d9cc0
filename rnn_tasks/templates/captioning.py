"""`CaptioningTask`: vector-to-sequence image captioning, image bytes in, caption out.

The story:

1. data: (image, caption) rows: generated shape scenes (offline default), a
   captions table beside an image folder (the Flickr8k layout: `image`,
   `caption` columns, several rows per image), or COCO captions through
   TensorFlow Datasets. Images are kept as their PNG/JPEG bytes; the split
   is by image, so an image's captions are all in one split and serve as its
   references.
2. preprocessing: `DecodeImages` (bytes -> `[size, size, 3]` in [0, 1]) and
   a `Tokenize` + `TextVectorization` of captions adapted on the training
   split, with start and end tokens.
3. model: an image encoder to one vector (a small CNN trained from scratch,
   or a `keras.applications` backbone); the vector initialises the LayerNorm
   RNN decoder's state and is fed beside every token embedding.
4. training: teacher forcing, cross-entropy with padding ignored.
5. evaluation: corpus BLEU-4 (sacrebleu) against all references and the
   exact-match rate; a grid of test images with generated and reference captions.
6. export: `image_bytes` string [batch] -> `caption` string [batch], decoded
   and resized in the graph, greedy or beam search from the recipe.
"""

import dataclasses
import os
import zlib
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from rnn_tasks.inputs import named_input
from rnn_tasks.preprocessing.images import (
    DecodeImages,
    check_image_bytes,
    decode_image,
    read_image_file,
)
from rnn_tasks.data.splits import group_split
from rnn_tasks.preprocessing.text import Tokenize, token_counts
from rnn_tasks.errors import UserError
from rnn_tasks.schemas import BACKBONES, CAPTIONING
from rnn_tasks.templates.encoder_decoder import EncoderDecoderTask
from rnn_tasks.metrics import dropped_counts, remember_metrics, timed
from rnn_tasks.templates.run_dir import pyplot

CACHE_LIMIT = 20000  # images decoded once and kept in memory when there are at most this many


@dataclasses.dataclass
class CaptionData:
    """Images and captions, split by image.

    Attributes:
        splits: `{split: (images (n,) bytes, captions (n,) str)}`, one row per caption.
        dropped: `{reason: captions dropped}`.
    """

    splits: dict
    dropped: dict


class CaptioningTask(EncoderDecoderTask):
    """Image captioning; see the module docstring for the story.

    Example:
    >>> task = CaptioningTask.from_recipe("captioning", {"train.epochs": 1})
    >>> task.config.data.image_size
    64
    """

    name = "captioning"
    preprocessing_names = ("decode_images", "caption_tokenize", "caption_vectorizer")
    schema = CAPTIONING
    data_class = CaptionData
    input_name, output_name = "image_bytes", "caption"

    # 1. Data ---------------------------------------------------------------------------

    def load_data(self):
        data = self.config.data
        images, captions, missing = self.image_captions()
        lengths = token_counts(Tokenize(joiners=True)(captions))
        fits = lengths <= data.max_caption_length
        if not fits.any():
            raise UserError(f"data: no caption fits max_caption_length={data.max_caption_length} "
                            f"tokens; the shortest has {lengths.min()}: raise it")
        images, captions = images[fits], captions[fits]
        keys = [zlib.crc32(image) for image in images]  # by pixels: copies split together
        dropped = ("" if fits.all() else "raise data.max_caption_length: "
                   f"{(~fits).sum()} of {len(fits)} captions are longer")
        parts = group_split(keys, data.split, data.seed, "image(s)", dropped)
        return CaptionData({split: (images[rows], captions[rows]) for split, rows in parts.items()},
                           {"long_captions": int((~fits).sum()),
                            "missing_image_or_caption": missing})

    def image_captions(self, path=None):
        """`(image bytes, captions, rows dropped)`: object arrays, one row per caption, from
        the table at `path` (default: the recipe's data), and how many of its rows lacked
        an image or a caption."""
        data = self.config.data
        path = path or data.path
        columns = [data.image_column, data.caption_column]
        frame = self.read_frame(columns, path, columns[1:])  # image names: R's NA is missing
        rows = len(frame)
        frame = frame.dropna(subset=columns)
        frame = frame[frame[columns[1]].astype(str).str.strip() != ""]
        if frame.empty:
            raise UserError("data: no rows with both an image and a caption")
        images = frame[columns[0]].map(  # a column of pathlib.Path too
            lambda image: os.fspath(image) if isinstance(image, os.PathLike) else image
        ).to_numpy(dtype=object)
        kinds = {type(image) for image in images}
        if kinds == {str}:  # file names, relative to image_dir or the table's folder
            urls = [name for name in images if "://" in name]
            if urls:
                raise UserError(f"column {columns[0]!r} must name local image files, got the URL "
                                f"{urls[0]!r}; download the images and name the files")
            folder = Path(data.image_dir or (Path(path).parent if path else "."))
            missing = sorted(name for name in set(images) if not (folder / name).exists())
            if missing:
                where = ("data.image_dir" if data.image_dir else "the table's folder" if path
                         else "the working folder")
                raise UserError(f"column {columns[0]!r} names {len(missing)} image file(s) not in "
                                f"{folder.resolve()} ({where}), e.g. {missing[0]!r}; set "
                                "data.image_dir to the folder the names are relative to")
            files = {name: read_image_file(folder / name) for name in set(images)}
            images = np.array([files[name] for name in images], dtype=object)
        elif kinds == {bytes}:  # encoded images (generated scenes, TFDS, a DataFrame's bytes)
            checked = set()  # each distinct image decoded once (12,000 scenes: about 2 s)
            for label, image in zip(frame.index, images):
                if image not in checked:
                    check_image_bytes(image, f"the {columns[0]!r} value at index {label!r}")
                    checked.add(image)
        else:
            raise UserError(f"column {columns[0]!r} must hold image file names (or PNG/JPEG bytes), "
                            f"got {', '.join(sorted(k.__name__ for k in kinds))} values")
        return images, frame[columns[1]].astype(str).to_numpy(dtype=object), rows - len(frame)

    # 2. Preprocessing ---------------------------------------------------------------------

    def build_preprocessing(self):
        """The image decoder and the caption vocabulary (the model's after load)."""
        if self.model is not None:
            return self.preprocessing_layers()
        data = self.config.data
        # Joiners: a caption comes back spaced as written ("dog's", "black-and-white").
        tokenize = Tokenize(wrap=True, joiners=True, name="caption_tokenize")
        vectorizer = keras.layers.TextVectorization(
            max_tokens=data.vocabulary_size, standardize=None, split="whitespace",
            output_sequence_length=data.max_caption_length + 2, name="caption_vectorizer")
        vectorizer.adapt(tokenize(self.data.splits["train"][1]))
        return {"decode_images": DecodeImages(data.image_size, name="decode_images"),
                "caption_tokenize": tokenize, "caption_vectorizer": vectorizer}

    def target_joiners(self):
        # Runs trained before captions had joiners have tokens without them.
        return self.preprocessing_layers()["caption_tokenize"].joiners

    def target_vectorizer(self):
        return self.preprocessing_layers()["caption_vectorizer"]

    @property
    def target_length(self):
        return self.config.data.max_caption_length

    def training_data(self, split):
        """Batches of `((images, caption ids but last), caption ids but first)`."""
        images, captions = self.data.splits[split]
        layers = self.preprocessing_layers()
        size = self.config.data.image_size
        # tf.constant keeps bytes exact (a NumPy "S" array would drop trailing NUL bytes).
        dataset = tf.data.Dataset.from_tensor_slices((tf.constant(list(images)), captions.astype(str)))
        dataset = dataset.map(lambda image, caption: (decode_image(image, size), caption),
                              num_parallel_calls=tf.data.AUTOTUNE)
        if len(images) <= CACHE_LIMIT:
            dataset = dataset.cache()
        if split == "train":
            dataset = dataset.shuffle(len(images), seed=self.training_seed)

        def vectorize(image, caption):
            ids = layers["caption_vectorizer"](layers["caption_tokenize"](caption))
            return (image, ids[:, :-1]), ids[:, 1:]

        return (dataset.batch(self.global_batch_size)
                .map(vectorize, num_parallel_calls=tf.data.AUTOTUNE)
                .prefetch(tf.data.AUTOTUNE))

    # 3. Model ---------------------------------------------------------------------------

    def build_model(self):
        """The core: `(images [size, size, 3], caption ids)` -> next-token logits, from an
        `encoder` (image -> vector and decoder states) and a step-able `decoder`."""
        data = self.config.data
        encoder = self.build_encoder()
        decoder = self.build_decoder(encoder)
        images = keras.Input((data.image_size, data.image_size, 3), name="images")
        tokens = keras.Input((data.max_caption_length + 1,), dtype="int64", name="caption_ids")
        vector, *states = encoder(images)
        logits, *_ = decoder([tokens, vector, *self.decoder_states(states)])
        return keras.Model([images, tokens], logits, name="captioning_core")

    def build_encoder(self):
        """Images -> `[vector, *decoder initial states]`."""
        spec, size = self.config.model, self.config.data.image_size
        images = keras.Input((size, size, 3), name="images")
        if spec.backbone == "none":
            x = images
            for filters in spec.filters:
                x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
                x = keras.layers.MaxPooling2D()(x)
            x = keras.layers.Flatten()(x)  # keeps where things are: captions say "left of"
        else:
            x = self.backbone(size)(images * 255.0)
        vector = keras.layers.Dense(spec.units, activation="tanh", name="image_vector")(x)
        count = 2 if spec.cell == "lstm" else 1
        states = [keras.layers.Dense(spec.units, activation="tanh", name=f"initial_state_{i}")(vector)
                  for i in range(count)]
        return keras.Model(images, [vector, *states], name="encoder")

    def backbone(self, size):
        """A frozen `keras.applications` network, pooled to one vector per image."""
        spec = self.config.model
        weights = spec.backbone_weights or None
        if weights not in (None, "imagenet") and not Path(weights).is_file():
            raise UserError(f"recipe: `model.backbone_weights` must be 'imagenet', '' or a weights "
                            f"file, got {weights!r} (file not found)")
        constructor = getattr(keras.applications, BACKBONES[spec.backbone])
        try:
            network = constructor(include_top=False, weights=weights, input_shape=(size, size, 3),
                                  pooling="avg")
        except Exception as error:  # keras raises several types for a failed download
            raise UserError(
                f"model.backbone {spec.backbone!r}: cannot load weights {weights!r} "
                f"({type(error).__name__}); without network, download them elsewhere and pass "
                "--set model.backbone_weights=FILE, or use --set model.backbone=none"
            ) from None
        network.trainable = False
        return network

    def build_decoder(self, encoder):
        """`[caption ids, image vector, *states]` -> `[logits, *states]`: `model.layers`
        recurrent layers that see the image vector beside every token."""
        spec = self.config.model
        tokens = keras.Input((None,), dtype="int64", name="caption_ids")
        vector = keras.Input((encoder.outputs[0].shape[-1],), name="image_vector")
        states = self.state_inputs()
        x = keras.layers.Embedding(self.target_vectorizer().vocabulary_size(), spec.embedding_dim,
                                   mask_zero=True, name="caption_embedding")(tokens)
        # The image vector beside every token: the decoder never forgets the image.
        condition = keras.ops.expand_dims(vector, 1) * keras.ops.ones_like(x[:, :, :1])
        x = keras.layers.Concatenate()([x, condition])
        x, new_states = self.recurrent_stack(x, states)
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout)(x)
        logits = keras.layers.Dense(self.target_vectorizer().vocabulary_size(), name="logits",
                                    dtype="float32")(x)  # float32 under mixed precision
        return keras.Model([tokens, vector, *states], [logits, *new_states], name="decoder")

    def assemble(self, core):
        """Raw `(image bytes, caption)` -> teacher-forced logits, with every layer serving needs."""
        image_bytes = keras.Input((), dtype="string", name="image_bytes")
        caption = keras.Input((), dtype="string", name="caption")
        layers = self.preprocessing
        ids = layers["caption_vectorizer"](layers["caption_tokenize"](caption))
        logits = core([layers["decode_images"](image_bytes), ids[:, :-1]])
        return keras.Model([image_bytes, caption], logits, name="captioning")

    # Decoding ------------------------------------------------------------------------------

    def encode(self, image_bytes):
        """Image bytes -> `([image vector], decoder states)` (graph-safe)."""
        images = self.preprocessing_layers()["decode_images"](image_bytes)
        count = tf.shape(images)[0]
        # TensorFlow's oneDNN convolution fails on an empty batch: encode one blank image, keep none.
        blank = tf.zeros(tf.concat([[1], tf.shape(images)[1:]], 0), images.dtype)
        images = tf.cond(count > 0, lambda: images, lambda: blank)
        vector, *states = self.part("encoder")(images, training=False)
        return [vector[:count]], self.decoder_states([state[:count] for state in states])

    # 5. Evaluation ----------------------------------------------------------------------

    @remember_metrics
    def evaluate(self):
        """Test metrics: `{bleu, exact_match, chrf, n_examples (images), n_captions, seconds}`."""
        self.prepare()
        return {**self.caption_metrics(*self.data.splits["test"]), **dropped_counts(self.data.dropped)}

    @timed
    def evaluate_file(self, path):
        """Metrics on every image of another captions table (same layout)."""
        images, captions, missing = self.image_captions(path)
        return {**self.caption_metrics(images, captions),
                **dropped_counts({"missing_image_or_caption": missing})}

    def image_references(self, images, captions):
        """`{image bytes: [its captions]}`, lower-case as captions are generated."""
        return self.references(images, [caption.lower() for caption in captions])

    def caption_metrics(self, images, captions):
        metrics = self.reference_metrics(self.image_references(images, captions))
        return {**metrics, "n_captions": int(len(captions))}

    def report_rows(self, metrics):
        return [("model", {k: metrics[k] for k in ("bleu", "exact_match", "chrf")})]

    def plot(self, plots_dir, metrics):
        """`captions.png`: 8 test images with the generated and a reference caption."""
        folder = self.plotting_folder(plots_dir)
        plt = pyplot()
        references = list(self.image_references(*self.data.splits["test"]).items())[:8]
        generated = self.generate([image for image, _ in references])
        fig, axes = plt.subplots(2, 4, figsize=(14, 8))
        for ax, (image, refs), caption in zip(axes.flat, references, generated):
            # Resizing overshoots [0, 1] by a hair, which imshow would warn about.
            ax.imshow(np.clip(decode_image(image, self.config.data.image_size).numpy(), 0, 1))
            ax.set_title(f"model: {caption}\nreference: {refs[0]}", fontsize=7,
                         color="black" if caption in refs else "tab:red")
            ax.axis("off")
        fig.suptitle(f"{self.recipe_name}: test images (red: not one of the references)")
        fig.tight_layout()
        fig.savefig(folder / "captions.png", dpi=100)
        plt.close(fig)

    # 6. Serving ------------------------------------------------------------------------

    def serving_signature(self):
        return {"image_bytes": tf.TensorSpec([None], tf.string, name="image_bytes")}

    def input_list(self, inputs):
        inputs = named_input(inputs, "image_bytes")
        if isinstance(inputs, (bytes, bytearray, memoryview)):
            inputs = [inputs]
        if isinstance(inputs, str):
            raise UserError("predict: `image_bytes` are the bytes of PNG/JPEG files, not a path; "
                            "read the file first (open(path, 'rb').read())")
        if not isinstance(inputs, (list, tuple, np.ndarray, pd.Series)):
            raise UserError("predict: `image_bytes` must be the bytes of a PNG/JPEG file or a list "
                            f"of them, got {type(inputs).__name__}")
        inputs = [bytes(image) if isinstance(image, (bytearray, memoryview)) else image
                  for image in inputs]
        images = np.asarray(inputs, dtype=object)
        for index, image in enumerate(images):
            check_image_bytes(image, f"predict: image {index}")
        return [images]

    def warmup_inputs(self, count):
        images = list(dict.fromkeys(self.data.splits["validation"][0]))[:count]
        return {"image_bytes": np.asarray(images, dtype=object)}

    def inputs_from_files(self, paths):
        images = [read_image_file(path) for path in paths]
        return {"image_bytes": np.asarray(images, dtype=object)}
