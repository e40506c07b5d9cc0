"""`TextInput`: the serving input of templates that read raw text (sentiment, translation)."""

import numpy as np
import pandas as pd

from rnn_tasks.data.readers import require_columns
from rnn_tasks.inputs import text_batch, texts_from_arguments
from rnn_tasks.templates import serving


class TextInput:
    """Mixin: `text` string `[batch]` in; `table_text_column()` names the column CLI
    `predict` reads from CSV/TSV/JSONL files, and `predict` from a `pandas.DataFrame`."""

    def pair_lines(self, path):
        """Whether CLI `predict` reads the file at `path` as `source<TAB>target` lines,
        keeping the source (translation); else it is a table or one text per line."""
        return False

    def table_text_column(self):
        """The column of the texts in a table file: the recipe's `data.text_column`."""
        return self.config.data.text_column

    def serving_signature(self):
        import tensorflow as tf

        return {"text": tf.TensorSpec([None], tf.string, name="text")}

    def checked_inputs(self, inputs):
        """`text` made to fail the request where a string is not UTF-8 or has a NUL."""
        return {**inputs, "text": serving.checked_text("text", inputs["text"])}

    def input_list(self, inputs):
        if isinstance(inputs, pd.DataFrame):  # a table, read as CLI `predict` reads a file
            column = self.table_text_column()
            inputs = require_columns(inputs, [column], "predict: the data frame")[column]
        return [text_batch(inputs)]

    def warmup_inputs(self, count):
        # Not texts the export refuses (a NUL, which training data may hold): TF Serving
        # would refuse to load a model whose warmup requests fail.
        texts = [text for text in self.data.splits["validation"][0] if "\0" not in str(text)]
        return {"text": np.asarray(texts[:count], dtype=object)}

    def inputs_from_files(self, paths):
        return {"text": texts_from_arguments(paths, self.table_text_column(),
                                                     self.pair_lines)}
