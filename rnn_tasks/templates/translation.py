"""`TranslationTask`: encoder-decoder translation with attention, decoded in the graph.

The story:

1. data: sentence pairs, from a `source<TAB>target[<TAB>attribution]` file
   (the Anki/Tatoeba layout) or a table with `source_column` and
   `target_column`; pairs longer than the length limits are dropped and
   counted. Split by source sentence, so a sentence's translations are all in
   one split and serve together as references.
2. preprocessing: `Tokenize` (Unicode-aware words and symbols: accents, ¿ ¡,
   apostrophes) and a `TextVectorization` per side adapted on the training
   split; targets get start and end tokens, and joiners where a symbol
   touched a word (`n ￭'￭ est`), so that generated text is spaced as the
   training targets are (`n'est`, `Va !`).
3. model: an embedding and (bidirectional) LayerNorm RNN encoder; a LayerNorm
   RNN decoder started from the encoder's final states, attending over the
   encoder outputs (Luong or Bahdanau scores), teacher-forced in training.
4. training: cross-entropy of the next target token, padding ignored.
5. evaluation: corpus BLEU and chrF (sacrebleu) of the recipe's decoding
   against all references, exact-match rate; attention heat-maps.
6. export: `text` string [batch] -> `translation` string [batch], greedy or
   beam search inside the graph (`rnn_tasks.decoding`).
"""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from rnn_tasks.data.catalog import fetch, load_card
from rnn_tasks.data.readers import (TABLES, check_data_file, expand_paths, header_names,
                                    read_lines, table_kind)
from rnn_tasks.data.splits import group_split
from rnn_tasks.preprocessing.text import END, JOINER, START, Tokenize, token_counts
from rnn_tasks.errors import UserError
from rnn_tasks.layers import recurrent_layer
from rnn_tasks.schemas import TRANSLATION
from rnn_tasks.templates.encoder_decoder import EncoderDecoderTask
from rnn_tasks.metrics import dropped_counts, remember_metrics, timed
from rnn_tasks.templates.run_dir import pyplot
from rnn_tasks.templates.text_input import TextInput


@dataclasses.dataclass
class PairData:
    """Sentence pairs, split.

    Attributes:
        splits: `{split: (sources (n,), targets (n,))}` object arrays of str.
        dropped: `{reason: pairs dropped}`.
    """

    splits: dict
    dropped: dict


def read_pairs(path):
    """Reads `source<TAB>target[<TAB>...]` lines (UTF-8; blank lines without a tab skipped);
    a glob pattern reads every matching file.

    Returns:
        `pandas.DataFrame` with columns `source`, `target`.

    Raises:
        UserError: missing file, not UTF-8, a line without a tab or with an
            empty side (named by line number).
    """
    paths = expand_paths(path)
    if len(paths) > 1:
        return pd.concat([read_pairs(p) for p in paths], ignore_index=True)
    path = paths[0]
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    lines = read_lines(path)
    pairs, widths = [], {}
    for number, line in enumerate(lines, 1):
        if not line.strip() and "\t" not in line:  # a blank line; "  \t  " is an empty pair
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            raise UserError(f"{path}:{number}: expected source<TAB>target with both sides "
                            f"non-empty, got {line[:60]!r}")
        pairs.append((fields[0].strip(), fields[1].strip()))
        widths.setdefault(len(line.rstrip("\t").split("\t")), []).append(number)  # "a\tb\t": 2
    if not pairs:
        raise UserError(f"{path} has no sentence pairs")
    # A tab inside a sentence shifts the target into the next field (a line without
    # the attribution the others have is fine).
    usual = max(widths, key=lambda width: len(widths[width]))
    odd = sorted(number for width, numbers in widths.items() if width > usual for number in numbers)
    if odd:
        raise UserError(f"{path}:{odd[0]}: {len(odd)} line(s) ({', '.join(map(str, odd[:5]))}"
                        f"{', ...' if len(odd) > 5 else ''}) have more tab-separated fields than "
                        f"the other lines' {usual}; a tab inside a sentence? Remove it")
    return pd.DataFrame(pairs, columns=["source", "target"])


def pair_file_is_table(path, data):
    """Whether the pairs file at `path` is a table with the recipe's columns (`data`'s
    `source_column` and `target_column`, by default `source` and `target`): a CSV or
    JSON file, or a TSV whose first line names one of them (by default `source`: the
    reader says if the other is missing). Else it holds source<TAB>target lines, which
    have no column names (a run trained on a table evaluates a pairs file so).

    Args:
        path: a regular file (its first line is read).
        data: the recipe's `[data]` section.

    Returns:
        `True` for a table, `False` for source<TAB>target lines.

    Raises:
        UserError: pair lines under a first line that names columns (it would be
            read as a pair).
    """
    named = [name for name in (data.source_column, data.target_column) if name]
    kind, header = table_kind(path), header_names(path)
    names = [name for name in named or ["source"] if name in header]
    if (kind == ".tsv" and names) or (kind in TABLES and kind != ".tsv"):  # CSV, JSON: named
        return True
    if names or header >= {"source", "target"}:
        headed = [name for name in dict.fromkeys([*named, "source", "target"]) if name in header]
        fix = (f"rename them to the recipe's {', '.join(map(repr, named))}, or train with "
               "data.source_column and data.target_column naming them" if kind == ".tsv"
               else "name it .tsv (or .csv, .jsonl, before any .gz or .zip)")
        raise UserError(f"data: {path} names {', '.join(map(repr, headed))} in its first line, a "
                        f"header, but is read as source<TAB>target lines; {fix}")
    return False


class TranslationTask(TextInput, EncoderDecoderTask):
    """Encoder-decoder translation; see the module docstring for the story.

    Example:
    >>> task = TranslationTask.from_recipe("translation_dates", {"train.epochs": 1})
    >>> task.config.decode.method
    'beam'
    """

    name = "translation"
    preprocessing_names = ("source_tokenize", "target_tokenize", "source_vectorizer",
                           "target_vectorizer")
    schema = TRANSLATION
    data_class = PairData
    input_name, output_name = "text", "translation"

    def table_text_column(self):
        """The source column of a table file, as training reads one: `data.source_column`,
        else "source"."""
        return self.config.data.source_column or "source"

    # 1. Data ---------------------------------------------------------------------------

    def load_data(self):
        data = self.config.data
        sources, targets, missing = self.read_pairs_frame()
        source_lengths = token_counts(Tokenize()(sources))
        target_lengths = token_counts(Tokenize(lowercase=False, joiners=True)(targets))
        fits = (source_lengths <= data.max_source_length) & (target_lengths <= data.max_target_length)
        if not fits.any():
            raise UserError(f"data: no pair fits max_source_length={data.max_source_length} and "
                            f"max_target_length={data.max_target_length} tokens; raise them (the "
                            f"shortest source has {source_lengths.min()} tokens, the shortest "
                            f"target {target_lengths.min()})")
        sources, targets = sources[fits], targets[fits]
        keys = [text.lower() for text in sources]
        dropped = ("" if fits.all() else "raise data.max_source_length / data.max_target_length: "
                   f"{(~fits).sum()} of {len(fits)} pairs are longer")
        parts = group_split(keys, data.split, data.seed, "source sentence(s)", dropped)
        splits = {split: (sources[rows], targets[rows]) for split, rows in parts.items()}
        return PairData(splits, {"too_long": int((~fits).sum()), "missing_text": missing})

    def read_pairs_frame(self, path=None):
        """`(sources, targets, rows dropped)` from a file at `path`, else the recipe's file,
        table or catalog dataset: object arrays, and how many table rows lacked a text."""
        data = self.config.data
        path = path or data.path
        columns = [self.table_text_column(), data.target_column or "target"]
        if self.pairs_are_a_table(path):
            frame = self.read_frame(columns, path, columns)
            rows = len(frame)
            frame = frame.dropna(subset=columns)
            frame = frame[(frame[columns[0]].astype(str).str.strip() != "")
                          & (frame[columns[1]].astype(str).str.strip() != "")]
            missing = rows - len(frame)
            if frame.empty:
                raise UserError("data: no rows with both a source and a target text")
        else:  # source<TAB>target lines, whatever columns the recipe names for tables
            frame, missing = read_pairs(path or fetch(load_card(data.dataset))), 0
            columns = ["source", "target"]
        return (frame[columns[0]].astype(str).to_numpy(dtype=object),
                frame[columns[1]].astype(str).to_numpy(dtype=object), missing)

    def pairs_are_a_table(self, path):
        """Whether the pairs at `path` (else the recipe's data) are a table: a DataFrame,
        a catalog dataset whose recipe names a column, or a file `pair_file_is_table`
        says is one. CLI `predict` decides its files so too (`pair_lines`).

        Raises:
            UserError: a file that is not there, or pair lines under a header.
        """
        data = self.config.data
        if not path:
            return self.frame is not None or bool(data.source_column or data.target_column)
        first = expand_paths(path)[0]
        check_data_file(first)
        return pair_file_is_table(first, data)

    def pair_lines(self, path):
        # A pipe (`-`, standard input) is lines, read once: no first line looked at twice.
        return not (Path(path).is_file() and pair_file_is_table(path, self.config.data))

    # 2. Preprocessing ---------------------------------------------------------------------

    def build_preprocessing(self):
        """Tokenizers and vocabularies, adapted on the training pairs (the trained ones after load)."""
        if self.model is not None:
            return self.preprocessing_layers()
        data = self.config.data
        sources, targets = self.data.splits["train"]
        layers = {"source_tokenize": Tokenize(decompose=True, name="source_tokenize"),
                  "target_tokenize": Tokenize(lowercase=False, wrap=True, joiners=True,
                                              name="target_tokenize")}
        sides = {"source": (sources, data.max_source_length),
                 "target": (targets, data.max_target_length + 2)}  # + start and end
        for side, (texts, length) in sides.items():
            vectorizer = keras.layers.TextVectorization(
                max_tokens=data.vocabulary_size, standardize=None, split="whitespace",
                output_sequence_length=length, name=f"{side}_vectorizer")
            vectorizer.adapt(layers[f"{side}_tokenize"](texts))
            layers[f"{side}_vectorizer"] = vectorizer
        return layers

    def ids(self, side, texts):
        """Raw texts -> padded token ids of one side (`source` or `target`)."""
        layers = self.preprocessing_layers()
        return layers[f"{side}_vectorizer"](layers[f"{side}_tokenize"](texts))

    def training_data(self, split):
        """Batches of `((source ids, target ids but last), target ids but first)`."""
        sources, targets = self.data.splits[split]
        dataset = tf.data.Dataset.from_tensor_slices((sources.astype(str), targets.astype(str)))
        if split == "train":
            dataset = dataset.shuffle(len(sources), seed=self.training_seed)

        def vectorize(source, target):
            target = self.ids("target", target)
            return (self.ids("source", source), target[:, :-1]), target[:, 1:]

        return (dataset.batch(self.global_batch_size)
                .map(vectorize, num_parallel_calls=tf.data.AUTOTUNE)
                .prefetch(tf.data.AUTOTUNE))

    # 3. Model ---------------------------------------------------------------------------

    def build_model(self):
        """The core: `(source ids, target ids)` -> next-token logits, from an
        `encoder` and a `decoder` model that decoding calls step by step."""
        data = self.config.data
        encoder = self.build_encoder()
        decoder = self.build_decoder(encoder)
        source = keras.Input((data.max_source_length,), dtype="int64", name="source_ids")
        target = keras.Input((data.max_target_length + 1,), dtype="int64", name="target_ids")
        memory, *states = encoder(source)
        logits, *_ = decoder([target, memory, source, *self.decoder_states(states)])
        return keras.Model([source, target], logits, name="translation_core")

    def build_encoder(self):
        """Source ids -> `[outputs, *decoder initial states]`: `model.layers`
        (bidirectional) recurrent layers, dropout between them."""
        spec = self.config.model
        source = keras.Input((None,), dtype="int64", name="source_ids")
        vocabulary = self.preprocessing_layers()["source_vectorizer"].vocabulary_size()
        x = self.drop_tokens(keras.layers.Embedding(vocabulary, spec.embedding_dim, mask_zero=True,
                                                    name="source_embedding")(source))
        for depth in range(spec.layers):
            last = depth == spec.layers - 1
            layer = recurrent_layer(spec.cell, spec.units, spec.layer_norm,
                                    return_sequences=True, return_state=last)
            x = keras.layers.Bidirectional(layer)(x) if spec.bidirectional else layer(x)
            if last:
                x, *states = x
            elif spec.dropout:
                x = keras.layers.Dropout(spec.dropout)(x)
        # The decoder masks attention with the source ids it is given; a mask carried on
        # the outputs would only be dropped, with a warning, at the decoder's input.
        outputs = keras.ops.copy(x)
        if spec.bidirectional:  # forward and backward final states -> one decoder state
            half = len(states) // 2
            states = [keras.layers.Dense(spec.units, activation="tanh", name=f"bridge_{i}")(
                keras.layers.Concatenate()([states[i], states[half + i]])) for i in range(half)]
        return keras.Model(source, [outputs, *states], name="encoder")

    def build_decoder(self, encoder):
        """`[target ids, encoder outputs, source ids, *states]` -> `[logits, attention, *states]`:
        `model.layers` recurrent layers, then attention over the encoder outputs."""
        spec = self.config.model
        tokens = keras.Input((None,), dtype="int64", name="target_ids")
        memory = keras.Input((None, encoder.outputs[0].shape[-1]), name="encoder_outputs")
        source = keras.Input((None,), dtype="int64", name="source_ids")
        states = self.state_inputs()
        vocabulary = self.preprocessing_layers()["target_vectorizer"].vocabulary_size()
        x = self.drop_tokens(keras.layers.Embedding(vocabulary, spec.embedding_dim, mask_zero=True,
                                                    name="target_embedding")(tokens))
        x, new_states = self.recurrent_stack(x, states)
        keys = keras.layers.Dense(spec.units, use_bias=False, name="attention_keys")(memory)
        score = (keras.layers.Attention(name="attention") if spec.attention == "luong"
                 else keras.layers.AdditiveAttention(name="attention"))
        source_mask = keras.ops.not_equal(source, 0)
        context, weights = score([x, memory, keys], mask=[None, source_mask],
                                 return_attention_scores=True)
        x = keras.layers.Concatenate()([x, context])
        x = keras.layers.Dense(spec.units, activation="tanh", name="attentional")(x)
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout)(x)
        logits = keras.layers.Dense(vocabulary, name="logits", dtype="float32")(x)  # under mixed precision too
        return keras.Model([tokens, memory, source, *states], [logits, weights, *new_states],
                           name="decoder")

    def drop_tokens(self, embedded):
        """Drops whole token vectors in training: the model learns to read a sentence
        with words missing.

        Args:
            embedded: `(batch, steps, embedding_dim)` token embeddings.

        Returns:
            `embedded`, each token's vector zeroed with probability
            `model.embedding_dropout` in training (unchanged without it).
        """
        rate = self.config.model.embedding_dropout
        return keras.layers.Dropout(rate, noise_shape=(None, None, 1))(embedded) if rate else embedded

    def assemble(self, core):
        """Raw `(source text, target text)` -> teacher-forced logits: every layer
        that serving needs (tokenizers, vocabularies, encoder, decoder) in one model."""
        source = keras.Input((), dtype="string", name="source_text")
        target = keras.Input((), dtype="string", name="target_text")
        layers = self.preprocessing
        target_ids = layers["target_vectorizer"](layers["target_tokenize"](target))
        logits = core([layers["source_vectorizer"](layers["source_tokenize"](source)),
                       target_ids[:, :-1]])
        return keras.Model([source, target], logits, name="translation")

    # Decoding ------------------------------------------------------------------------------

    def target_vectorizer(self):
        return self.preprocessing_layers()["target_vectorizer"]

    def target_joiners(self):
        # Runs trained before joiners existed have targets without them.
        return self.preprocessing_layers()["target_tokenize"].joiners

    @property
    def target_length(self):
        return self.config.data.max_target_length

    def encode(self, texts):
        """Raw source texts -> `([encoder outputs, source ids], decoder states)` (graph-safe)."""
        source = self.ids("source", texts)
        memory, *states = self.part("encoder")(source, training=False)
        return [memory, source], self.decoder_states(states)

    # 5. Evaluation ----------------------------------------------------------------------

    @remember_metrics
    def evaluate(self):
        """Test metrics: `{bleu, chrf, exact_match, n_examples, n_pairs, seconds}`."""
        self.prepare()
        metrics = self.translation_metrics(*self.data.splits["test"])
        return {**metrics, **dropped_counts(self.data.dropped)}

    @timed
    def evaluate_file(self, path):
        """Metrics on every pair of another file of the recipe's format."""
        sources, targets, missing = self.read_pairs_frame(path)
        return {**self.translation_metrics(sources, targets),
                **dropped_counts({"missing_text": missing})}

    def translation_metrics(self, sources, targets):
        """BLEU and chrF of the recipe's decoding; a source's targets are its references."""
        metrics = self.reference_metrics(self.references(sources, targets))
        return {**metrics, "n_pairs": int(len(sources))}

    def report_rows(self, metrics):
        return [("model", {k: metrics[k] for k in ("bleu", "chrf", "exact_match")})]

    def plot(self, plots_dir, metrics):
        """`attention.png`: decoder attention over the source for three test sentences."""
        folder = self.plotting_folder(plots_dir)
        plt = pyplot()
        sources = list(dict.fromkeys(self.data.splits["test"][0]))[:3]
        fig, axes = plt.subplots(1, len(sources), figsize=(5 * len(sources), 4.5), squeeze=False)
        for ax, text in zip(axes[0], sources):
            source_tokens, target_tokens, weights = self.attention_map(text)
            ax.imshow(weights, cmap="viridis", aspect="auto")
            # Joiners drawn as "~" (the plot fonts lack U+FFED): "l ~'~ homme".
            ax.set_xticks(range(len(source_tokens)), [t.replace(JOINER, "~") for t in source_tokens],
                          rotation=90)
            ax.set_yticks(range(len(target_tokens)), [t.replace(JOINER, "~") for t in target_tokens])
        fig.suptitle(f"{self.recipe_name}: attention (greedy decoding, test sentences)")
        fig.tight_layout()
        fig.savefig(folder / "attention.png", dpi=100)
        plt.close(fig)

    def attention_map(self, text):
        """Greedy-decodes one text eagerly; returns `(source tokens, output tokens, weights)`."""
        layers = self.preprocessing_layers()
        (memory, source), states = self.encode(tf.constant([text]))
        source_tokens = layers["source_tokenize"](tf.constant([text])).numpy()[0].decode().split()
        source_tokens = source_tokens[:int(tf.reduce_sum(tf.cast(source > 0, tf.int32)))]
        vocabulary = layers["target_vectorizer"].get_vocabulary()
        token, outputs, rows = vocabulary.index(START), [], []
        for _ in range(self.config.data.max_target_length + 1):
            logits, weights, *states = self.part("decoder")(
                [tf.constant([[token]], "int64"), memory, source, *states], training=False)
            token = int(tf.argmax(logits[0, 0]))
            outputs.append(vocabulary[token])
            rows.append(weights.numpy()[0, 0, :len(source_tokens)])
            if vocabulary[token] == END:
                break
        return source_tokens, outputs, np.array(rows)

    # 6. Serving: `text` in (TextInput), `translation` out (EncoderDecoderTask.serve).
