"""`SequenceOutputTask`: what the templates that generate text share.

Translation and captioning both end in a recurrent decoder over a target
vocabulary: teacher forcing with padding ignored in training, greedy or beam
search from the `[decode]` recipe section inside the serving graph, ids back
to text, and BLEU / chrF / exact match against all references.
"""

import keras
import numpy as np
import tensorflow as tf

from rnn_tasks.data.text import END, START, join_tokens
from rnn_tasks.decoding import beam_search, greedy_search
from rnn_tasks.templates.task import Task

class SequenceOutputTask(Task):
    """Base of templates whose output is text generated token by token.

    Subclasses name their preprocessing layers in `preprocessing_names` and
    provide `target_vectorizer()` (the `TextVectorization` of the targets,
    with `START` and `END` in its vocabulary) and `target_length`.
    """

    preprocessing_names = ()
    vocabulary = None

    def preprocessing_layers(self):
        """`{name: layer}`: the trained model's once it exists (after `Task.load`
        too), else the ones `build_preprocessing` just fitted."""
        if self.model is None:
            return self.preprocessing
        return {name: self.model.get_layer(name) for name in self.preprocessing_names}

    def target_vectorizer(self):
        raise NotImplementedError

    @property
    def target_length(self):
        """Most target tokens a model is trained on (without start and end)."""
        raise NotImplementedError

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)

    def serving_function(self):
        # Read eagerly: a lookup table cannot list its vocabulary while tracing.
        self.vocabulary = self.target_vectorizer().get_vocabulary()
        return super().serving_function()

    def search(self, step, state, batch_size):
        """Runs the recipe's decoding from `START`; returns token ids `[batch, max_length]`.

        Args:
            step: `(tokens [n], state) -> (log_probs [n, vocab], state)`.
            state: the initial decoder state (a nest, leading dimension `batch_size`).
            batch_size: a scalar tensor.
        """
        decode = self.recipe["decode"]
        max_length = decode["max_length"] or self.target_length + 1
        start = tf.fill([batch_size], self.vocabulary.index(START))
        end = self.vocabulary.index(END)
        if decode["method"] == "greedy":
            return greedy_search(step, state, start, end, max_length)[0]
        return beam_search(step, state, start, end, max_length, decode["beam_width"],
                           decode["length_penalty"])[0]

    def detokenize(self, tokens):
        """Generated ids -> text: the tokens before the first end token, joined."""
        ended = tf.cumsum(tf.cast(tokens == self.vocabulary.index(END), tf.int32), axis=-1) > 0
        keep = ~ended & (tokens > 1)  # no padding, no unknown-word marker
        return join_tokens(tf.gather(tf.constant(self.vocabulary), tokens), keep)

    @staticmethod
    def text_metrics(hypotheses, references):
        """Corpus BLEU and chrF (sacrebleu) and exact match against all references.

        Args:
            hypotheses: one generated text per example.
            references: one list of reference texts per example.

        Returns:
            `{bleu, chrf, exact_match, n_examples}`.
        """
        import sacrebleu

        width = max(len(refs) for refs in references)
        streams = [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]
        return {
            "bleu": float(sacrebleu.corpus_bleu(hypotheses, streams).score),
            "chrf": float(sacrebleu.corpus_chrf(hypotheses, streams).score),
            "exact_match": float(np.mean([h in refs for h, refs in zip(hypotheses, references)])),
            "n_examples": len(hypotheses),
        }
