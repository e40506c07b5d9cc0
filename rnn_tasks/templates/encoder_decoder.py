"""`EncoderDecoderTask`: what the templates that generate text share.

Translation and captioning both encode their input into a context and the
decoder's first states, then run a recurrent decoder over a target
vocabulary: teacher forcing with padding ignored in training; greedy or beam
search inside the serving graph, from the `[decode]` recipe section or per
`predict` call; ids back to text; BLEU / chrF / exact match against all of
an example's references.

A template provides the hooks `encode` (raw serving input -> context and
initial states, graph-safe), `build_encoder`, `build_decoder` (whose inputs
are `[tokens, *context, *states]` and outputs `[logits, *extras, *states]`),
`target_vectorizer()` and `target_length`.
"""

import abc
import dataclasses

import keras
import tensorflow as tf

from rnn_tasks.preprocessing.text import END, START, join_tokens
from rnn_tasks.decoding import beam_search, greedy_search
from rnn_tasks.errors import UserError
from rnn_tasks.layers import recurrent_layer
from rnn_tasks.losses import TokenCrossentropy
from rnn_tasks.metrics import text_metrics
from rnn_tasks.recipes import Field
from rnn_tasks.templates import serving
from rnn_tasks.templates.task import Task

NUM_RETURN = Field(int, 1, minimum=1, maximum=256)  # `predict`'s sequences per input (<= beam_width)


@dataclasses.dataclass(frozen=True)
class Decoding:
    """How to generate: the recipe's `[decode]` section, overridable per call.

    Attributes:
        vocabulary: the target vocabulary (read eagerly: a lookup table cannot
            list itself while a graph is traced).
        method: `"greedy"` or `"beam"`.
        beam_width: beams per example.
        max_length: most tokens to generate (end token included).
        length_penalty: GNMT's alpha.
        num_return: sequences returned per example (beam search, <= beam_width).
        joiners: the target tokens carry joiners (`Tokenize(joiners=True)`).
    """

    vocabulary: tuple
    method: str
    beam_width: int
    max_length: int
    length_penalty: float
    num_return: int = 1
    joiners: bool = False


class EncoderDecoderTask(Task):
    """Base of templates whose output is text generated token by token.

    Subclasses name their preprocessing layers in `preprocessing_names`, the
    serving input and output in `input_name` / `output_name`.
    """

    preprocessing_names = ()
    input_name = output_name = None

    def preprocessing_layers(self):
        """`{name: layer}`: the trained model's once it exists (after `Task.load`
        too), else the ones `build_preprocessing` just fitted."""
        if self.model is None:
            return self.preprocessing
        return {name: self.model.get_layer(name) for name in self.preprocessing_names}

    @abc.abstractmethod
    def target_vectorizer(self):
        """The targets' `TextVectorization`, with `START` and `END` in its vocabulary."""

    @property
    @abc.abstractmethod
    def target_length(self):
        """Most target tokens a model is trained on (without start and end)."""

    @abc.abstractmethod
    def encode(self, raw):
        """Raw serving input (a batch tensor) -> `(context list, decoder states list)`."""

    def check_assembled(self, model):
        for name in ("encoder", "decoder"):
            self.part(name, model)

    def part(self, name, model=None):
        """The trained core's `encoder` or `decoder` model: a layer of `model` (default: the
        task's), or of a model inside it, whatever the core's own name.

        Raises:
            UserError: there is none (`fit` asks `check_assembled` before the first epoch).
        """
        model = model or self.model
        for candidate in [m for m in [model, *model.layers] if isinstance(m, keras.Model)]:
            if name in [sub.name for sub in candidate.layers]:
                return candidate.get_layer(name)
        raise UserError(f"{type(self).__name__}.build_model returned a model without the {name!r} "
                        "layer: decoding runs the core's `encoder` and `decoder` models; build "
                        "them with build_encoder and build_decoder, or name yours so")

    def loss(self):
        return TokenCrossentropy(self.config.train.label_smoothing)

    # Model ---------------------------------------------------------------------------------

    def recurrent_stack(self, x, states):
        """`model.layers` recurrent layers over `x`, layer i started from its share of
        `states`, dropout between layers (the template adds it before its output layer).

        Returns:
            `(outputs, new states)`, the states in the order given.
        """
        spec = self.config.model
        per_layer = len(states) // spec.layers
        new_states = []
        for i in range(spec.layers):
            rnn = recurrent_layer(spec.cell, spec.units, spec.layer_norm,
                                  return_sequences=True, return_state=True)
            x, *layer_states = rnn(x, initial_state=states[i * per_layer:(i + 1) * per_layer])
            new_states += layer_states
            if spec.dropout and i < spec.layers - 1:
                x = keras.layers.Dropout(spec.dropout)(x)
        return x, new_states

    def state_inputs(self):
        """`keras.Input`s of the decoder's states: one per state of each decoder layer."""
        count = (2 if self.config.model.cell == "lstm" else 1) * self.config.model.layers
        return [keras.Input((self.config.model.units,), name=f"state_{i}") for i in range(count)]

    def decoder_states(self, encoder_states):
        """The encoder's final states, one copy for every decoder layer."""
        return list(encoder_states) * self.config.model.layers

    # Decoding ------------------------------------------------------------------------------

    def decoding(self, method=None, beam_width=None, max_length=None, length_penalty=None,
                 num_return=1):
        """The recipe's `[decode]` settings with the given ones replaced (read eagerly).

        Raises:
            UserError: a setting outside the recipe schema's range.
        """
        decode = self.config.decode
        given = {"method": method, "beam_width": beam_width, "max_length": max_length,
                 "length_penalty": length_penalty}
        fields = self.schema["decode"]
        settings = {k: getattr(decode, k) if v is None else fields[k].check(k, v, "predict")
                    for k, v in given.items()}
        num_return = NUM_RETURN.check("num_return", num_return, "predict")
        if num_return != 1 and (settings["method"] != "beam" or num_return > settings["beam_width"]):
            raise UserError(f"predict: num_return={num_return} needs method='beam' and "
                            f"num_return <= beam_width ({settings['beam_width']})")
        settings["max_length"] = settings["max_length"] or self.target_length + 1
        return Decoding(tuple(self.target_vectorizer().get_vocabulary()), num_return=num_return,
                        joiners=self.target_joiners(), **settings)

    def target_joiners(self):
        """Whether the target tokens carry joiners that say how to rebuild the text."""
        return False

    def serving_function(self, decoding=None):
        """`serve` with `decoding` (default: the recipe's) as a `tf.function`, traced
        once per model and decoding."""
        decoding = decoding or self.decoding()
        cache = getattr(self, "_serving_functions", None)
        if cache is None or cache[0] is not self.model:
            cache = self._serving_functions = (self.model, {})
        if decoding not in cache[1]:
            cache[1][decoding] = serving.trace(lambda inputs: self.serve(inputs, decoding),
                                                self.serving_signature(), self.checked_inputs)
        return cache[1][decoding]

    def predict(self, inputs, method=None, beam_width=None, num_return=1, max_length=None,
                length_penalty=None):
        """Raw inputs -> `{output name: str [batch], "log_probability": float [batch]}`.

        Args:
            inputs: the template's raw inputs (see `input_list`).
            method, beam_width, max_length, length_penalty: override the
                recipe's `[decode]` settings for this call.
            num_return: with beam search, the best `num_return` sequences per
                input, best first (outputs `[batch, num_return]`).

        Returns:
            The generated texts and their summed token log-probabilities.
        """
        self.require_model("predict")
        decoding = self.decoding(method, beam_width, max_length, length_penalty, num_return)
        return self.run_serving(self.serving_function(decoding), inputs)

    def serve(self, inputs, decoding=None):
        """Serving inputs -> `{output_name: text, "log_probability": scores}` (graph-safe)."""
        decoding = decoding or self.decoding()
        context, states = self.encode(inputs[self.input_name])
        tokens, scores = self.search(context, states, decoding)
        return {self.output_name: self.detokenize(tokens, decoding), "log_probability": scores}

    def search(self, context, states, decoding):
        """Generates from `START` with the decoder, one token per step.

        Returns:
            `(token ids [batch, (num_return,) max_length], log-probabilities [batch(, num_return)])`.
        """
        decoder = self.part("decoder")
        start_id = decoding.vocabulary.index(START)
        # Never generated: padding and the start token (no target holds them, but an
        # input far from the training data can still make them the likeliest).
        never = tf.reduce_any(tf.range(len(decoding.vocabulary))[:, None] == [0, start_id], axis=1)

        def step(tokens, state):
            context, states = state
            logits, *rest = decoder([tf.cast(tokens[:, None], "int64"), *context, *states],
                                    training=False)
            log_probs = tf.where(never, float("-inf"), tf.nn.log_softmax(logits[:, 0]))
            return log_probs, (context, rest[len(rest) - len(states):])

        batch = tf.shape(context[0])[0]
        start = tf.fill([batch], start_id)
        end = decoding.vocabulary.index(END)
        if decoding.method == "greedy":
            return greedy_search(step, (context, states), start, end, decoding.max_length)
        return beam_search(step, (context, states), start, end, decoding.max_length,
                           decoding.beam_width, decoding.length_penalty,
                           num_return=decoding.num_return if decoding.num_return > 1 else None)

    @staticmethod
    def detokenize(tokens, decoding):
        """Generated ids -> text: the tokens before the first end token, joined."""
        ended = tf.cumsum(tf.cast(tokens == decoding.vocabulary.index(END), tf.int32), axis=-1) > 0
        keep = ~ended & (tokens > 1)  # no padding, no unknown-word marker
        return join_tokens(tf.gather(tf.constant(decoding.vocabulary), tokens), keep,
                           decoding.joiners)

    def generate(self, inputs):
        """Texts generated with the recipe's decoding for many raw inputs (a list of `str`)."""
        return list(serving.in_batches(self.predict, inputs, self.output_name))

    def reference_metrics(self, references):
        """BLEU, chrF and exact match of the recipe's decoding of each input of
        `{input: [its references]}`."""
        return text_metrics(self.generate(list(references)), list(references.values()))

    @staticmethod
    def references(sources, targets):
        """`{source: [its targets]}` in first-seen order: an example's references."""
        references = {}
        for source, target in zip(sources, targets):
            references.setdefault(source, []).append(target)
        return references
