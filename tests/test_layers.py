"""Layer tests: NumPy reference equations, published numbers, Keras behaviour.

Runs on the TensorFlow, JAX and PyTorch backends
(`KERAS_BACKEND=jax pytest tests/test_layers.py`, `KERAS_BACKEND=torch ...`).
"""

import re

import keras
import numpy as np
import pytest
from keras import ops

from rnn_tasks.layers import (
    LayerNormGRU,
    LayerNormGRUCell,
    LayerNormLSTM,
    LayerNormLSTMCell,
    LayerNormMinGRU,
    LayerNormMinLSTM,
    LayerNormSimpleRNN,
    LayerNormSimpleRNNCell,
    recurrent_layer,
)
from rnn_tasks.layers.norm import centered_norm
from tests import reference
from tests.layer_helpers import (
    EPS,
    RANDOM_NORM,
    assert_loads_in_fresh_process,
    backend_gradients,
    finite_difference_gradient,
    loss_gradient,
    numpy,
    weights_by_name,
)

LAYERS = [LayerNormSimpleRNN, LayerNormLSTM, LayerNormGRU]


@pytest.fixture(autouse=True)
def seeded():
    """The same weights on every run: unseeded kernels made float32 comparisons flaky."""
    keras.utils.set_random_seed(0)


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((3, 6, 5)).astype("float32")


# Equations against the NumPy reference ------------------------------------


def test_simple_rnn_matches_numpy(x):
    layer = LayerNormSimpleRNN(4, return_sequences=True, **RANDOM_NORM)
    out = numpy(layer(x))
    expected = reference.simple_rnn(x.astype("float64"), weights_by_name(layer), EPS)
    np.testing.assert_allclose(out, expected, atol=2e-5)


@pytest.mark.parametrize("cell_norm", ["output", "state"])
def test_lstm_matches_numpy(x, cell_norm):
    layer = LayerNormLSTM(4, return_sequences=True, return_state=True,
                          cell_norm=cell_norm, **RANDOM_NORM)
    out, h, c = (numpy(t) for t in layer(x))
    expected, h_ref, c_ref = reference.lstm(x.astype("float64"), weights_by_name(layer), EPS,
                                            cell_norm=cell_norm)
    np.testing.assert_allclose(out, expected, atol=2e-5)
    np.testing.assert_allclose(h, h_ref, atol=2e-5)
    np.testing.assert_allclose(c, c_ref, atol=2e-5)


def test_lstm_cell_norm_modes_differ(x):
    """The two placements carry different states, so their outputs diverge after step 1."""
    kwargs = dict(return_sequences=True, kernel_initializer="ones", **RANDOM_NORM)
    out_a = numpy(LayerNormLSTM(4, cell_norm="output", **kwargs)(x))
    out_b = numpy(LayerNormLSTM(4, cell_norm="state", **kwargs)(x))
    assert np.abs(out_a[:, -1] - out_b[:, -1]).max() > 1e-3


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_matches_numpy(x, reset_after):
    layer = LayerNormGRU(4, return_sequences=True, reset_after=reset_after, **RANDOM_NORM)
    out = numpy(layer(x))
    expected = reference.gru(x.astype("float64"), weights_by_name(layer), EPS,
                             reset_after=reset_after)
    np.testing.assert_allclose(out, expected, atol=2e-5)


def test_lstm_cell_matches_tensorflow_addons_published_numbers():
    """tensorflow_addons/rnn/tests/layer_norm_lstm_cell_test.py::test_cell_output."""
    const = keras.initializers.Constant(0.5)

    def cell():
        return LayerNormLSTMCell(2, kernel_initializer=const, recurrent_initializer=const,
                                 bias_initializer=const, norm_epsilon=1e-12, cell_norm="state")

    x = np.ones((1, 2), "float32")
    state0 = [0.1 * np.array([[2, 3]], "float32"), 0.1 * np.array([[0, 1]], "float32")]
    state1 = [0.1 * np.array([[6, 7]], "float32"), 0.1 * np.array([[4, 5]], "float32")]
    output, states = keras.layers.StackedRNNCells([cell(), cell()])(x, [state0, state1])
    expected_h = [[-0.47406167, 0.47406143]]
    np.testing.assert_allclose(numpy(output), expected_h, rtol=1e-5, atol=1e-5)
    for h, c in states:
        np.testing.assert_allclose(numpy(h), expected_h, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(numpy(c), [[-1.0, 1.0]], rtol=1e-5, atol=1e-5)


# Sequence layers behave like keras.layers.RNN(cell) --------------------------


@pytest.mark.parametrize("layer_class", LAYERS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("precompute_inputs", [True, False])
def test_sequence_layer_equals_rnn_of_cell(x, layer_class, go_backwards, precompute_inputs):
    layer = layer_class(4, return_sequences=True, return_state=True, go_backwards=go_backwards,
                        precompute_inputs=precompute_inputs, **RANDOM_NORM)
    fast = layer(x)
    slow = keras.layers.RNN(layer.cell, return_sequences=True, return_state=True,
                            go_backwards=go_backwards)(x)
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(numpy(a), numpy(b), atol=1e-5)


@pytest.mark.parametrize("layer_class", LAYERS)
@pytest.mark.parametrize("precompute_inputs", [True, False])
def test_masked_padding_changes_nothing(x, layer_class, precompute_inputs):
    layer = layer_class(4, return_state=True, precompute_inputs=precompute_inputs, **RANDOM_NORM)
    padded = np.concatenate([x, np.zeros((3, 2, 5), "float32")], axis=1)
    padded[1, 6:] = 7.0  # garbage behind the mask
    mask = np.concatenate([np.ones((3, 6), bool), np.zeros((3, 2), bool)], axis=1)
    for a, b in zip(layer(x), layer(padded, mask=mask)):
        np.testing.assert_allclose(numpy(a), numpy(b), atol=1e-5)


@pytest.mark.parametrize("layer_class", LAYERS + [LayerNormMinGRU, LayerNormMinLSTM])
@pytest.mark.parametrize("shape", [(3, 7), (3, 6, 2), (2, 6), (6,)])
def test_a_mask_of_the_wrong_shape_names_the_expected_and_received_shapes(x, layer_class, shape):
    """Before, ops.where broadcast it (PyTorch ran a (3, 7) mask) or failed inside the loop
    or scan."""
    with pytest.raises(ValueError, match=re.escape(
            f"{layer_class.__name__}: `mask` must have the shape (batch, time) of the inputs, "
            f"(3, 6), got {shape}.")):
        layer_class(4)(x, mask=np.ones(shape, bool))


@pytest.mark.parametrize("layer_class", LAYERS + [LayerNormMinGRU, LayerNormMinLSTM])
def test_a_mask_with_a_last_axis_of_one_is_the_same_mask(x, layer_class):
    """Keras's RNN takes (batch, time, 1) masks; the parallel layers failed on them."""
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    layer = layer_class(4, **RANDOM_NORM)
    np.testing.assert_allclose(numpy(layer(x, mask=mask[..., None])), numpy(layer(x, mask=mask)),
                               atol=1e-6)


@pytest.mark.parametrize("layer_class", LAYERS + [LayerNormMinGRU, LayerNormMinLSTM])
def test_a_mask_of_unknown_batch_and_length_is_taken(x, layer_class):
    """Symbolic masks (functional inputs, Embedding(mask_zero=True)) and Bidirectional."""
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    inputs, mask_input = keras.Input((None, 5)), keras.Input((None,), dtype="bool")
    layer = keras.layers.Bidirectional(layer_class(4, **RANDOM_NORM))
    model = keras.Model([inputs, mask_input], layer(inputs, mask=mask_input))
    np.testing.assert_allclose(numpy(model([x, mask])), numpy(layer(x, mask=mask)), atol=1e-6)
    tokens = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 5, mask_zero=True)(tokens)
    model = keras.Model(tokens, layer_class(4)(embedded))
    out = numpy(model(np.array([[3, 4, 0, 0], [1, 2, 5, 0]])))
    np.testing.assert_allclose(out[:1], numpy(model(np.array([[3, 4]]))), atol=1e-6)


def test_masking_layer_in_a_model(x):
    padded = np.concatenate([x, np.zeros((3, 2, 5), "float32")], axis=1)
    inputs = keras.Input((None, 5))
    outputs = LayerNormLSTM(4)(keras.layers.Masking()(inputs))
    model = keras.Model(inputs, outputs)
    np.testing.assert_allclose(numpy(model(padded)), numpy(model(x)), atol=1e-5)


def test_initial_state_and_stateful_continuation(x):
    layer = LayerNormLSTM(4, return_state=True, **RANDOM_NORM)
    full, h, c = layer(x)
    _, h1, c1 = layer(x[:, :3])
    second, _, _ = layer(x[:, 3:], initial_state=[h1, c1])
    np.testing.assert_allclose(numpy(second), numpy(full), atol=1e-5)

    stateful = LayerNormGRU(4, stateful=True, **RANDOM_NORM)
    stateful(x[:, :3])
    continued = stateful(x[:, 3:])
    whole = keras.layers.RNN(stateful.cell)(x)
    np.testing.assert_allclose(numpy(continued), numpy(whole), atol=1e-5)
    stateful.reset_state()
    np.testing.assert_allclose(numpy(stateful(x[:, :3])),
                               numpy(keras.layers.RNN(stateful.cell)(x[:, :3])), atol=1e-5)


def test_weights_port_from_keras_layout():
    lstm = LayerNormLSTM(3)
    lstm.build((None, 4, 2))
    shapes = {w.name: tuple(w.shape) for w in lstm.weights}
    assert shapes == {
        "kernel": (2, 12), "recurrent_kernel": (3, 12), "bias": (12,),
        "kernel_norm_gamma": (12,), "kernel_norm_beta": (12,),
        "recurrent_norm_gamma": (12,), "recurrent_norm_beta": (12,),
        "state_norm_gamma": (3,), "state_norm_beta": (3,),
    }
    # unit_forget_bias: forget-gate block of the bias starts at one.
    np.testing.assert_array_equal(numpy(lstm.cell.bias), [0] * 3 + [1] * 3 + [0] * 6)
    gru = LayerNormGRU(3)
    gru.build((None, 4, 2))
    assert tuple(gru.cell.bias.shape) == (2, 9)
    assert tuple(LayerNormGRU(3, reset_after=False).cell.bias_shape()) == (9,)
    keras_gru = keras.layers.GRU(3)
    keras_gru.build((None, 4, 2))
    assert [tuple(w.shape) for w in keras_gru.weights] == [tuple(w.shape) for w in gru.weights[:3]]


# Zoneout ----------------------------------------------------------------------


@pytest.mark.parametrize("layer_class", [LayerNormLSTM, LayerNormGRU])
def test_zoneout_inference_uses_expectation(x, layer_class):
    layer = layer_class(4, return_sequences=True, zoneout=0.3, **RANDOM_NORM)
    out = numpy(layer(x, training=False))
    w = weights_by_name(layer)
    if layer_class is LayerNormLSTM:
        expected = reference.lstm(x.astype("float64"), w, EPS, zoneout=0.3)[0]
    else:
        expected = reference.gru(x.astype("float64"), w, EPS, zoneout=0.3)
    np.testing.assert_allclose(out, expected, atol=2e-5)
    slow = keras.layers.RNN(layer.cell, return_sequences=True)(x, training=False)
    np.testing.assert_allclose(numpy(slow), out, atol=1e-5)


@pytest.mark.parametrize("layer_class", [LayerNormLSTM, LayerNormGRU])
@pytest.mark.parametrize("precompute_inputs", [True, False])
def test_zoneout_training_keeps_previous_units(layer_class, precompute_inputs):
    x = np.random.default_rng(1).standard_normal((256, 5, 3)).astype("float32")
    layer = layer_class(16, return_sequences=True, zoneout=0.4, seed=7,
                        precompute_inputs=precompute_inputs)
    out = numpy(layer(x, training=True))
    kept = np.isclose(out[:, 1:], out[:, :-1], atol=0.0, rtol=0.0)
    assert 0.35 < kept.mean() < 0.45  # each unit keeps its value with p = 0.4
    assert np.abs(out - numpy(layer(x, training=True))).max() > 0  # resampled per call
    np.testing.assert_array_equal(numpy(layer(x)), numpy(layer(x)))  # inference: deterministic


def test_zoneout_zero_is_plain_cell(x):
    with_zero = LayerNormGRU(4, zoneout=0.0, seed=3)
    out_train = numpy(with_zero(x, training=True))
    np.testing.assert_allclose(out_train, numpy(with_zero(x, training=False)), atol=1e-6)


# Dropout -----------------------------------------------------------------------


@pytest.mark.parametrize("layer_class", LAYERS)
def test_dropout_only_in_training(x, layer_class):
    layer = layer_class(4, dropout=0.5, recurrent_dropout=0.5, seed=1, **RANDOM_NORM)
    plain = layer_class(4, **RANDOM_NORM)
    plain.build(x.shape)
    inference = numpy(layer(x))
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(inference, numpy(plain(x)), atol=1e-6)
    assert np.abs(numpy(layer(x, training=True)) - inference).max() > 1e-3


# Serialization -----------------------------------------------------------------


@pytest.mark.parametrize("layer_class", LAYERS)
def test_config_round_trip(layer_class):
    layer = layer_class(5, return_sequences=True, go_backwards=True, dropout=0.1,
                        norm_epsilon=1e-5, activation="relu", seed=4, precompute_inputs=True)
    restored = layer_class.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    assert restored.cell.norm_epsilon == 1e-5 and restored.go_backwards
    assert restored.precompute_inputs is True
    with pytest.raises(ValueError, match="`precompute_inputs`, expected one of"):
        layer_class(5, precompute_inputs="yes")
    cell = layer.cell
    assert type(cell).from_config(cell.get_config()).get_config() == cell.get_config()


def test_keras_file_round_trip_bidirectional_and_stacked(tmp_path, x):
    inputs = keras.Input((None, 5))
    h = keras.layers.Bidirectional(LayerNormLSTM(4, return_sequences=True, zoneout=0.1))(inputs)
    h = LayerNormGRU(4, return_sequences=True, reset_after=False)(h)
    h = keras.layers.RNN(LayerNormSimpleRNNCell(3))(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(numpy(restored(x)), numpy(model(x)), atol=1e-6)
    assert isinstance(restored.layers[1].forward_layer, LayerNormLSTM)
    assert restored.layers[1].backward_layer.go_backwards


def test_keras_file_loads_in_fresh_process(tmp_path, x):
    model = keras.Sequential([keras.Input((6, 5)), LayerNormLSTM(4), keras.layers.Dense(1)])
    assert_loads_in_fresh_process(model, x, tmp_path)


# Argument validation ----------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"units": 0}, "`units`, expected a positive integer, got 0"),
    ({"units": 4, "dropout": 1.5}, "`dropout`, expected a float in [0, 1), got 1.5"),
    ({"units": 4, "recurrent_dropout": -0.1}, "`recurrent_dropout`"),
    ({"units": 4, "zoneout": 1.0}, "`zoneout`, expected a float in [0, 1), got 1.0"),
    ({"units": 4, "cell_norm": "hidden"}, "`cell_norm`, expected one of ('output', 'state')"),
    ({"units": 4, "norm_epsilon": 0}, "`norm_epsilon`, expected a positive finite float"),
    ({"units": 4, "norm_epsilon": float("nan")}, "`norm_epsilon`, expected a positive finite float, got nan"),
    ({"units": 4, "norm_epsilon": float("inf")}, "`norm_epsilon`, expected a positive finite float, got inf"),
    ({"units": 4, "dropout": False}, "`dropout`, expected a float in [0, 1), got False"),
    ({"units": 4, "unit_forget_bias": "no"}, "`unit_forget_bias`, expected True or False, got 'no'"),
    ({"units": 4, "use_bias": "x"}, "`use_bias`, expected True or False, got 'x'"),
])
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        LayerNormLSTMCell(**kwargs)
    assert message in str(error.value)


def one_unit_dependence(layer):
    """max |layer(x1) - layer(x2)| of a one-unit `layer` over two random sequences."""
    x1, x2 = np.random.default_rng(1).standard_normal((2, 4, 6, 3)).astype("float32")
    return np.abs(numpy(layer(x1)) - numpy(layer(x2))).max()


@pytest.mark.parametrize("make, norm", [
    (lambda: LayerNormSimpleRNN(1), "the summed projections"),
    (lambda: LayerNormSimpleRNNCell(1), "the summed projections"),
    (lambda: LayerNormLSTM(1, cell_norm="output"), "the cell state"),
    (lambda: LayerNormLSTM(1, cell_norm="state"), "the cell state"),
    (lambda: LayerNormLSTMCell(1), "the cell state"),
    (lambda: recurrent_layer("lstm", 1), "the cell state"),
])
def test_one_unit_is_refused_where_its_normalization_leaves_only_the_offset(make, norm):
    """LN over one value is its offset beta: SimpleRNN(1) output tanh(bias + beta) for any
    input, and LSTM(1)'s output never saw its cell state (0 at initialization)."""
    with pytest.raises(ValueError, match=re.escape(
            f"Received an invalid value for argument `units`, got 1: layer normalization of {norm} "
            "over one unit leaves only its offset, so ")):
        make()


@pytest.mark.parametrize("make", [
    lambda: LayerNormGRU(1, return_sequences=True, reset_after=True, **RANDOM_NORM),
    lambda: LayerNormGRU(1, return_sequences=True, reset_after=False, **RANDOM_NORM),
    lambda: keras.layers.RNN(LayerNormGRUCell(1, reset_after=False), return_sequences=True),
    lambda: recurrent_layer("simple_rnn", 1, layer_norm=False, return_sequences=True),
    lambda: recurrent_layer("lstm", 1, layer_norm=False, return_sequences=True),
])
def test_one_unit_is_kept_where_the_output_still_depends_on_the_inputs(make):
    """The GRU normalizes its 3 gates together, and Keras's own layers do not normalize."""
    assert one_unit_dependence(make()) > 0.1


def test_keras_use_cudnn_argument_carries_over_and_true_is_refused(x):
    """`keras.layers.LSTM(..., use_cudnn=False)` arguments carry over unchanged."""
    for layer, keras_layer in ((LayerNormLSTM, keras.layers.LSTM), (LayerNormGRU, keras.layers.GRU)):
        for value in ("auto", False):
            keras_layer(4, use_cudnn=value)
            assert numpy(layer(4, use_cudnn=value)(x)).shape == (x.shape[0], 4)
        with pytest.raises(ValueError, match=re.escape(
                f"{layer.__name__} has no cuDNN kernel (cuDNN cannot normalize inside a step); "
                "`use_cudnn` must be 'auto' or False, got True.")):
            layer(4, use_cudnn=True)


def test_zoneout_in_keras_loop_draws_a_mask_per_step_or_says_why_not():
    x = np.random.default_rng(0).standard_normal((8, 12, 3)).astype("float32")
    rnn = keras.layers.RNN(LayerNormLSTMCell(6, zoneout=0.5, seed=1), return_sequences=True)
    if keras.backend.backend() == "jax":  # lax.scan traces one draw for all steps
        with pytest.raises(ValueError, match="cannot draw a zoneout mask per step inside a JAX "
                                             "loop.*use the sequence layer, LayerNormLSTM"):
            rnn(x, training=True)
        return
    out = numpy(rnn(x, training=True))
    kept = out[:, 1:] == out[:, :-1]  # a unit that zoned out repeats its output exactly
    assert 0.3 < kept.mean() < 0.7
    assert (kept.std(axis=1) > 0).mean() > 0.9  # units zone out at different steps


def test_numpy_scalars_are_arguments_as_for_keras_own_layers():
    cell = LayerNormLSTMCell(np.int64(4), dropout=np.float32(0.25), norm_epsilon=np.float64(1e-5),
                             use_bias=np.True_)
    assert (cell.units, cell.dropout, cell.norm_epsilon, cell.use_bias) == (4, 0.25, 1e-5, True)
    assert type(cell.units) is int and type(cell.dropout) is float  # plain in get_config
    assert type(cell.use_bias) is bool
    for layer_class in [*LAYERS, LayerNormMinGRU, LayerNormMinLSTM]:  # keras.layers.GRU fails so
        layer = layer_class(np.int64(3), return_state=True)
        assert [tuple(out.shape) for out in layer(np.zeros((2, 5, 4), "float32"))][:2] == [(2, 3)] * 2


@pytest.mark.parametrize("layer_class", LAYERS)
def test_a_tensorflow_variable_is_an_input_as_for_keras_own_layers(x, layer_class):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.Variable is TensorFlow's")
    import tensorflow as tf

    layer = layer_class(4)
    np.testing.assert_array_equal(numpy(layer(tf.Variable(x))), numpy(layer(x)))


def test_a_wrong_initial_state_names_what_the_layer_takes(x):
    h = np.ones((3, 4), "float32")
    with pytest.raises(ValueError, match=re.escape(
            "LayerNormLSTM takes `initial_state` as 2 tensors [h, c] of shape (batch, 4), got 1.")):
        LayerNormLSTM(4)(x, initial_state=h)
    with pytest.raises(ValueError, match=re.escape(
            "LayerNormGRU: `initial_state[0]` must have shape (batch, 4), got (3, 5).")):
        LayerNormGRU(4)(x, initial_state=[np.zeros((3, 5), "float32")])
    gru = LayerNormGRU(4)
    np.testing.assert_array_equal(numpy(gru(x, initial_state=h)), numpy(gru(x, initial_state=[h])))
    with pytest.raises(ValueError, match=re.escape(  # Incompatible shapes inside the loop, before
            "LayerNormLSTM: `initial_state[0]` must have one row per input sequence, (3, 4), "
            "got (2, 4).")):
        LayerNormLSTM(4)(x, initial_state=[h[:2], h[:2]])


@pytest.mark.parametrize("layer_class", LAYERS)
def test_input_must_be_a_sequence(layer_class):
    with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=2. Full shape received: \(2, 3\)"):
        layer_class(4)(np.zeros((2, 3), "float32"))


@pytest.mark.parametrize("layer_class", LAYERS)
def test_a_built_layer_refuses_another_feature_size(x, layer_class):
    layer = layer_class(4)
    layer(x)  # built for 5 features
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 5, "
                                         r"but received input with shape \(3, 6, 2\)"):
        layer(x[..., :2])


@pytest.mark.parametrize("layer_class", LAYERS)
def test_integer_inputs_are_cast_as_keras_layers_cast_them(layer_class):
    integers = np.arange(24, dtype="int32").reshape(2, 4, 3) % 5
    layer = layer_class(4)
    expected = numpy(layer(integers.astype("float32")))
    np.testing.assert_allclose(numpy(layer(integers)), expected, rtol=1e-6)


# Training: gradients, mixed precision, XLA -------------------------------------------


def test_centered_norm_gradient_equals_automatic_differentiation():
    """The written-out gradient against the backend differentiating the formula."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 8)).astype("float32")
    x -= x.mean(axis=-1, keepdims=True)
    gamma = rng.uniform(0.5, 1.5, 8).astype("float32")
    weights = ops.convert_to_tensor(rng.standard_normal((3, 4, 8)).astype("float32"))

    def formula(x, gamma):
        variance = ops.mean(ops.square(x), axis=-1, keepdims=True)
        return ops.sum(weights * x * ops.rsqrt(variance + 1e-3) * gamma)

    def written_out(x, gamma):
        return ops.sum(weights * centered_norm(x, gamma, 1e-3))

    for ours, expected in zip(backend_gradients(written_out, x, gamma),
                              backend_gradients(formula, x, gamma)):
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer_class", LAYERS)
def test_gradient_matches_finite_differences(layer_class):
    """Five-point central differences in float32 (JAX has no float64 by default).

    Their truncation error is O(step**4), so a step of 3e-3 keeps the float32
    rounding of the loss small too. The weights are seeded: for about one
    random LSTM in twenty the loss bends so sharply that no float32 step gets
    within the tolerance, though the gradient equals automatic
    differentiation's (`test_centered_norm_gradient_equals_...`).
    """
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(2).standard_normal((2, 4, 3)).astype("float32")
    layer = layer_class(3, **RANDOM_NORM)
    layer(x)
    grad = loss_gradient(layer, x)
    numeric = finite_difference_gradient(layer, x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-2, atol=1e-3)


def test_mixed_precision(x):
    layer = LayerNormLSTM(4, dtype="mixed_float16", **RANDOM_NORM)
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    assert layer.cell.kernel.dtype == "float32"
    reference_layer = LayerNormLSTM(4, **RANDOM_NORM)
    reference_layer(x)
    reference_layer.set_weights(layer.get_weights())
    np.testing.assert_allclose(numpy(out), numpy(reference_layer(x)), atol=1e-2)


@pytest.mark.parametrize("layer_class", [*LAYERS, LayerNormMinGRU, LayerNormMinLSTM])
def test_mixed_float16_normalizes_large_inputs_as_float32_does(x, layer_class):
    # Layer normalization ignores the inputs' scale; in float16 their squares overflow
    # from about 256, so the statistics are computed in float32 (as Keras's own).
    large = 1000.0 * x
    layer = layer_class(4, dtype="mixed_float16")
    reference_layer = layer_class(4)
    reference_layer(large)
    layer(large)
    layer.set_weights(reference_layer.get_weights())
    np.testing.assert_allclose(numpy(layer(large)).astype("float32"), numpy(reference_layer(large)),
                               atol=1e-2)
    (grad,) = backend_gradients(lambda v: ops.sum(ops.cast(layer(v), "float32")), large)
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0


@pytest.mark.parametrize("layer_class", LAYERS)
def test_jit_compiled_fit_reduces_loss(layer_class):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(3).standard_normal((64, 8, 3)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None] / 5
    model = keras.Sequential([keras.Input((8, 3)), layer_class(8, dropout=0.1),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=True)
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="only TensorFlow traces graphs whose length is unknown")
@pytest.mark.parametrize("layer_class", LAYERS + [LayerNormMinGRU])
def test_fixed_batch_unknown_length_graph_runs_every_step(x, layer_class):
    """A fixed batch of 3 and 6 steps: Keras's loop, told no length, used to stop at 3."""
    import tensorflow as tf

    layer = layer_class(4, return_sequences=True, **RANDOM_NORM)
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    @tf.function(input_signature=[tf.TensorSpec([3, None, 5]), tf.TensorSpec([3, None], tf.bool)])
    def graph(x, mask):
        return layer(x, mask=mask)

    np.testing.assert_allclose(numpy(graph(x, mask)), numpy(layer(x, mask=mask)), atol=1e-6)
