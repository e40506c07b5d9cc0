"""`SentimentTask`: sequence-to-vector classification of texts into two labels.

The story:

1. data: a table with a text column and a label column; rows whose label is
   not one of `labels` = [negative, positive] are dropped and counted, as
   are rows without text. A seeded split into train / validation / test,
   optionally by `group_column` (all reviews of one movie in one split, so
   the test score is not inflated by names seen in training).
2. preprocessing: a `TextVectorization` layer (lower-case, strip
   punctuation, `vocabulary_size` most frequent training words, unknown
   words -> one OOV id, `sequence_length` tokens, longer texts truncated)
   adapted on the training texts only; it runs in the tf.data pipeline for
   training and inside the exported graph for serving.
3. model: embedding with masking -> (bidirectional) LayerNorm RNN layers ->
   the last state, or all steps' outputs pooled (`model.pooling`: max, mean
   or attention) -> a sigmoid unit: the probability of the positive label;
   with `model.ngrams`, a linear score of the word n-grams is added to its logit,
   its weights starting as naive Bayes log-count ratios of the training split.
4. training: binary cross-entropy.
5. evaluation: accuracy, ROC AUC, F1 of the positive label, loss, beside the
   majority-class accuracy; confusion-matrix and ROC / precision-recall plots.
6. export: `text` string [batch] -> `probability` float32 [batch],
   `label` string [batch].
"""

import dataclasses

import keras
import numpy as np

from rnn_tasks.data.readers import check_group_column, check_text_column, text_cells
from rnn_tasks.data.splits import group_keys, group_split
from rnn_tasks.errors import UserError
from rnn_tasks.layers import BagOfNgrams, SequencePooling, recurrent_layer
from rnn_tasks.schemas import SENTIMENT
from rnn_tasks.metrics import classification_metrics, dropped_counts, remember_metrics, timed
from rnn_tasks.preprocessing.text import decompose_lower_and_strip_punctuation
from rnn_tasks.templates import serving
from rnn_tasks.templates.run_dir import pyplot
from rnn_tasks.templates.task import Task
from rnn_tasks.templates.text_input import TextInput


@dataclasses.dataclass
class TextData:
    """Labelled texts, split.

    Attributes:
        splits: `{split: (texts (n,) object array of str, labels (n,) int 0/1)}`.
        dropped: `{reason: rows dropped}` (labels outside `labels`, empty texts).
    """

    splits: dict
    dropped: dict


class SentimentTask(TextInput, Task):
    """Sequence-to-vector sentiment classification; see the module docstring.

    Example:
    >>> task = SentimentTask.from_recipe("sentiment", {"train.epochs": 1})
    >>> task.config.data.labels
    ['rotten', 'fresh']
    """

    name = "sentiment"
    schema = SENTIMENT
    data_class = TextData

    @property
    def labels(self):
        """`[negative, positive]` as strings (a recipe may write `[0, 1]`)."""
        return [str(label) for label in self.config.data.labels]

    # 1. Data ---------------------------------------------------------------------------

    def load_data(self):
        data = self.config.data
        frame = self.read_frame(self.columns(), text_columns=self.columns()[:1])
        check_group_column(frame, data.group_column, "name the column that keeps related texts "
                           "in one split, or split by row with --set data.group_column=''")
        texts, labels, groups, dropped = self.labelled_texts(frame)
        keys = np.arange(len(texts)) if groups is None else groups  # no groups: one per row
        parts = group_split(keys, data.split, data.seed)
        splits = {split: (texts[rows], labels[rows]) for split, rows in parts.items()}
        for split in ("train", "test"):  # a test split of one label scores nothing
            found = sorted(set(splits[split][1]))
            if len(found) == 1:
                raise UserError(
                    f"data: the {'training' if split == 'train' else split} split holds only "
                    f"{self.labels[found[0]]!r} texts ({len(texts)} labelled texts, "
                    f"{int(labels.sum())} {self.labels[1]!r}); give more texts of the other "
                    "label, or change data.split or data.seed")
        return TextData(splits, dropped)

    def columns(self):
        return [self.config.data.text_column, self.config.data.label_column]

    def labelled_texts(self, frame, both_labels=True):
        """Keeps rows with a text and one of `labels`; refuses data with one class
        (with `both_labels`; else only data with no labelled text).

        Returns:
            `(texts, labels 0/1, group keys (`group_keys`) or None, {reason: dropped count})`.
        """
        data = self.config.data
        labels = label_strings(frame[data.label_column])
        spelled = {label.strip().casefold(): label for label in self.labels}  # "Positive": positive
        labels = labels.map(lambda cell: spelled.get(cell.casefold(), cell), na_action="ignore")
        known = labels.isin(self.labels)
        texts = frame[data.text_column]
        check_text_column(texts)
        # A letter or digit: what TextVectorization keeps ("_" is punctuation to it).
        has_words = texts.notna() & texts.astype(str).str.contains(r"[^\W_]", regex=True)
        dropped = {"other_labels": int((~known).sum()),
                   "texts_without_words": int((known & ~has_words).sum())}
        keep = known & has_words
        found = sorted(set(labels.dropna()))
        present = set(labels[keep])
        needed, asked = (2, "both labels") if both_labels else (1, "a label of")
        if len(present) < needed <= len(set(labels[known])):
            raise UserError(f"data: after dropping texts without words, column "
                            f"{data.label_column!r} no longer has {asked} {self.labels} "
                            f"({int(keep.sum())} of {int(known.sum())} labelled rows have words in "
                            f"column {data.text_column!r})")
        if len(present) < needed:
            raise UserError(
                f"data: column {data.label_column!r} needs {asked} {self.labels} "
                f"(found: {', '.join(map(repr, found[:10]))}); set data.labels to its two values, "
                "negative first"
            )
        groups = (group_keys(text_cells(frame[data.group_column][keep]))
                  if data.group_column in frame.columns else None)
        return (texts[keep].astype(str).to_numpy(dtype=object),
                (labels[keep] == self.labels[1]).to_numpy(dtype="int32"), groups, dropped)

    # 2. Preprocessing ---------------------------------------------------------------------

    def build_preprocessing(self):
        """The `TextVectorization` adapted on the training texts (the trained one after load)."""
        if self.model is not None:
            return self.model.get_layer("vectorizer")
        data = self.config.data
        vectorizer = keras.layers.TextVectorization(
            max_tokens=data.vocabulary_size, output_sequence_length=data.sequence_length,
            standardize=decompose_lower_and_strip_punctuation, name="vectorizer")
        vectorizer.adapt(self.data.splits["train"][0])
        return vectorizer

    def training_data(self, split):
        """Batches of `(token ids, label)`, vectorized in the tf.data pipeline."""
        import tensorflow as tf

        texts, labels = self.data.splits[split]
        dataset = tf.data.Dataset.from_tensor_slices((texts.astype(str), labels[:, None].astype("float32")))
        if split == "train":
            dataset = dataset.shuffle(len(texts), seed=self.training_seed,
                                      reshuffle_each_iteration=True)
        return (dataset.batch(self.global_batch_size)
                .map(lambda text, label: (self.preprocessing(text), label),
                     num_parallel_calls=tf.data.AUTOTUNE)
                .prefetch(tf.data.AUTOTUNE))

    # 3. Model ---------------------------------------------------------------------------

    def build_model(self):
        """The core: token ids `(sequence_length,)` -> positive-label probability `(1,)`.

        A subclass may return any Keras model with these shapes; id 0 is padding.
        """
        data, spec = self.config.data, self.config.model
        tokens = keras.Input((data.sequence_length,), dtype="int64", name="tokens")
        x = keras.layers.Embedding(self.preprocessing.vocabulary_size(), spec.embedding_dim,
                                   mask_zero=True, name="embedding")(tokens)
        if spec.embedding_dropout:  # whole words dropped: the model leans on no single one
            x = keras.layers.Dropout(spec.embedding_dropout)(x)
        pooled = spec.pooling != "last"
        for depth in range(spec.layers):
            layer = recurrent_layer(spec.cell, spec.units, spec.layer_norm,
                                    return_sequences=pooled or depth < spec.layers - 1)
            x = keras.layers.Bidirectional(layer)(x) if spec.bidirectional else layer(x)
            if pooled and depth == spec.layers - 1:  # (B, T, features) -> (B, features)
                x = SequencePooling(spec.pooling, name="pooling")(x)
            if spec.dropout:
                x = keras.layers.Dropout(spec.dropout)(x)
        return keras.Model(tokens, self.head(x, tokens), name="sentiment_core")

    def head(self, features, tokens):
        """The sigmoid unit, with `model.ngrams` a linear n-gram score added to its logit.

        With `model.ngram_initializer = "naive_bayes"` the n-gram weights start
        as naive Bayes log-count ratios of the training split
        (`BagOfNgrams.fit_naive_bayes`), so the logit starts as that classifier's
        (without its class prior) plus the untrained network's.

        Args:
            features: the recurrent network's output `(batch, features)`.
            tokens: the token ids `(batch, sequence_length)`, 0 for padding.

        Returns:
            The positive-label probability `(batch, 1)`.
        """
        spec = self.config.model
        if not spec.ngrams:
            return keras.layers.Dense(1, activation="sigmoid", name="probability", dtype="float32")(features)
        ngrams = BagOfNgrams(self.preprocessing.vocabulary_size(), spec.ngrams, name="ngrams")
        wide = ngrams(tokens)
        if spec.ngram_initializer == "naive_bayes":
            texts, labels = self.data.splits["train"]
            chunks = (slice(start, start + 4096) for start in range(0, len(texts), 4096))
            ngrams.fit_naive_bayes((self.preprocessing(texts[chunk]), labels[chunk])
                                   for chunk in chunks)
        # float32 from the logit on, under mixed precision too (Keras's guide).
        logit = keras.layers.Add(name="wide_and_deep", dtype="float32")(
            [keras.layers.Dense(1, name="logit", dtype="float32")(features), wide])
        return keras.layers.Activation("sigmoid", name="probability", dtype="float32")(logit)

    def training_metrics(self):
        return ["accuracy"]

    def assemble(self, core):
        text = keras.Input((), dtype="string", name="text")
        return keras.Model(text, core(self.preprocessing(text)), name="sentiment")

    def check_assembled(self, model):
        """The model outputs probabilities, as the loss (binary cross-entropy) and the
        served `probability` take them: checked on training texts before the first epoch,
        so that a `build_model` without the final sigmoid is named rather than trained."""
        import tensorflow as tf

        texts = self.data.splits["train"][0][:64].astype(str)
        probability = keras.ops.convert_to_numpy(model(tf.constant(texts))).ravel()
        outside = probability[~((probability >= 0) & (probability <= 1))]
        if outside.size:
            raise UserError(
                f"{type(self).__name__}.build_model returned a model whose output is not a "
                f"probability (got {outside[0]:.3g} on a training text); end it with "
                "Dense(1, activation='sigmoid'), as the loss and the served `probability` "
                "are of probabilities")

    # 5. Evaluation ----------------------------------------------------------------------

    @remember_metrics
    def evaluate(self):
        """Test metrics: `{accuracy, auc, f1, loss, majority_accuracy, n_examples, seconds}`."""
        self.prepare()
        texts, labels = self.data.splits["test"]
        metrics = classification_metrics(labels, self.probabilities(texts))
        return {**metrics, **dropped_counts(self.data.dropped)}

    @timed
    def evaluate_file(self, path):
        """Metrics on every labelled row of another CSV/TSV/JSONL file."""
        frame = self.read_frame(self.columns(), path, self.columns()[:1])
        texts, labels, _, dropped = self.labelled_texts(frame, both_labels=False)
        metrics = classification_metrics(labels, self.probabilities(texts))
        return {**metrics, **dropped_counts(dropped)}

    def probabilities(self, texts):
        """Positive-label probabilities of `texts`, through the serving graph."""
        return serving.in_batches(self.predict, texts, "probability", 512).astype("float64")

    def report_rows(self, metrics):
        return [("model", {k: metrics[k] for k in ("accuracy", "auc", "f1", "loss")}),
                ("majority class", {"accuracy": metrics["majority_accuracy"]})]

    def plot(self, plots_dir, metrics):
        """`confusion_matrix.png` and `roc_pr.png` (ROC and precision-recall) on the test split."""
        folder = self.plotting_folder(plots_dir)
        from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

        plt = pyplot()
        texts, labels = self.data.splits["test"]
        probability = self.probabilities(texts)
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ConfusionMatrixDisplay.from_predictions(
            labels, (probability >= 0.5).astype(int), labels=[0, 1], display_labels=self.labels,
            ax=ax, colorbar=False)
        ax.set_title(f"{self.recipe_name}: test confusion matrix")
        fig.tight_layout()
        fig.savefig(folder / "confusion_matrix.png", dpi=100)
        plt.close(fig)
        fig, (roc, pr) = plt.subplots(1, 2, figsize=(9, 4))
        RocCurveDisplay.from_predictions(labels, probability, ax=roc, name="model")
        PrecisionRecallDisplay.from_predictions(labels, probability, ax=pr, name="model")
        roc.set_title("ROC (test)")
        pr.set_title(f"precision-recall of {self.labels[1]!r} (test)")
        fig.tight_layout()
        fig.savefig(folder / "roc_pr.png", dpi=100)
        plt.close(fig)

    # 6. Serving ------------------------------------------------------------------------

    def serve(self, inputs):
        import tensorflow as tf

        probability = self.model(inputs["text"], training=False)[:, 0]
        positive = tf.cast(probability >= 0.5, tf.int32)
        return {"probability": probability,
                "label": tf.gather(tf.constant(self.labels), positive)}



def label_strings(column):
    """Label cells as strings, as `data.labels` compares them, without surrounding
    spaces; missing cells stay missing.

    A column of integers with an empty cell is read as floats: `1.0` is the label `"1"`.

    Example:
    >>> import pandas as pd
    >>> label_strings(pd.Series([1.0, None, " fresh "])).tolist()
    ['1', nan, 'fresh']
    """
    def text(value):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value).strip()

    return column.map(text, na_action="ignore").astype(object)
