"""`TextInput`: the serving input of templates that read raw text (sentiment, translation)."""

from rnn_tasks.inputs import text_batch, texts_from_arguments


class TextInput:
    """Mixin: `text` string `[batch]` in; the recipe's `data.<text_column_key>` names the
    column CLI `predict` reads from CSV/TSV/JSONL files."""

    text_column_key = "text_column"
    pair_files = False  # text files of `source<TAB>target` lines (translation)

    def serving_signature(self):
        import tensorflow as tf

        return {"text": tf.TensorSpec([None], tf.string, name="text")}

    def input_list(self, inputs):
        return [text_batch(inputs)]

    def warmup_inputs(self, count):
        return {"text": self.data.splits["validation"][0][:count].astype(object)}

    def inputs_from_files(self, paths):
        return {"text": texts_from_arguments(paths, getattr(self.config.data, self.text_column_key),
                                             self.pair_files)}
