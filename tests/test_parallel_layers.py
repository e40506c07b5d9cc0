"""minGRU / minLSTM layers: NumPy equations, scan == loop, masking, gradients, saving.

Runs on the TensorFlow, JAX and PyTorch backends, as tests/test_layers.py.
"""

import re

import keras
import numpy as np
import pytest

from rnn_tasks.layers import (
    LayerNormMinGRU,
    LayerNormMinGRUCell,
    LayerNormMinLSTM,
    LayerNormMinLSTMCell,
    recurrent_layer,
)
from rnn_tasks.layers.parallel import linear_scan, log_linear_scan
from tests import reference
from tests.layer_helpers import (
    EPS,
    RANDOM_NORM,
    assert_loads_in_fresh_process,
    finite_difference_gradient,
    loss_gradient,
    numpy,
    weights_by_name,
)

LAYERS = {"gru": LayerNormMinGRU, "lstm": LayerNormMinLSTM}


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((3, 7, 5)).astype("float32")


def rnn_of_cell(layer, **kwargs):
    """`keras.layers.RNN` over `layer`'s own cell (same weights): the step-by-step loop."""
    return keras.layers.RNN(layer.cell, return_sequences=True, return_state=True, **kwargs)


# Equations against the NumPy reference ---------------------------------------------


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("log_space", [False, True])
def test_matches_numpy_equations(x, kind, log_space):
    layer = LAYERS[kind](4, return_sequences=True, return_state=True, log_space=log_space,
                         **RANDOM_NORM)
    h0 = np.random.default_rng(1).standard_normal((3, 4)).astype("float32")  # either sign
    out, h = layer(x, initial_state=[h0])
    expected, h_ref = reference.min_rnn(x.astype("float64"), weights_by_name(layer), EPS, kind,
                                        log_space=log_space, h=h0.astype("float64"))
    np.testing.assert_allclose(numpy(out), expected, atol=2e-5)
    np.testing.assert_allclose(numpy(h), h_ref, atol=2e-5)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_a_float64_layer_scans_in_float64(x, kind):
    x = x.astype("float64")
    layer = LAYERS[kind](4, return_sequences=True, dtype="float64", **RANDOM_NORM)
    out = layer(x)
    loop = keras.layers.RNN(layer.cell, return_sequences=True, dtype="float64")(x)
    dtype = keras.backend.standardize_dtype(out.dtype)  # float32 on JAX without jax_enable_x64
    assert dtype == keras.backend.standardize_dtype(loop.dtype)
    # A float32 scan is ~1e-7 off. So is any float64 recurrent loop on PyTorch with
    # Keras 3.15: keras.layers.SimpleRNN(dtype="float64") is 2e-7 off a NumPy loop there.
    exact = dtype == "float64" and keras.backend.backend() != "torch"
    tolerance = 1e-12 if exact else 1e-5
    np.testing.assert_allclose(numpy(out), numpy(loop), rtol=tolerance, atol=tolerance)


def test_scans_against_a_plain_loop():
    """75 steps: several full chunks and a padded one."""
    rng = np.random.default_rng(4)
    a = rng.uniform(0.5, 1.0, (2, 75, 3))
    b = rng.uniform(0.1, 2.0, (2, 75, 3))
    products, states = np.ones((2, 3)), np.zeros((2, 3))
    expected_products, expected_states = [], []
    for t in range(75):
        products, states = products * a[:, t], a[:, t] * states + b[:, t]
        expected_products.append(products)
        expected_states.append(states)
    A, H = linear_scan(a, b)
    np.testing.assert_allclose(numpy(A), np.stack(expected_products, 1), rtol=1e-6)
    np.testing.assert_allclose(numpy(H), np.stack(expected_states, 1), rtol=1e-6)
    _, log_H = log_linear_scan(np.log(a), np.log(b))
    np.testing.assert_allclose(np.exp(numpy(log_H)), np.stack(expected_states, 1), rtol=1e-6)


# The scan gives the numbers of the step-by-step cell ---------------------------------


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("log_space", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_scan_equals_loop_of_cell(kind, log_space, go_backwards):
    x = np.random.default_rng(0).standard_normal((3, 45, 5)).astype("float32")  # many chunks
    layer = LAYERS[kind](4, return_sequences=True, return_state=True, log_space=log_space,
                         output_norm=True, go_backwards=go_backwards, **RANDOM_NORM)
    h0 = np.random.default_rng(1).standard_normal((3, 4)).astype("float32")
    mask = np.ones((3, 45), bool)
    mask[0, 30:] = mask[2, 2:5] = mask[2, 31:34] = False  # trailing padding, and gaps
    scan_out, scan_h = layer(x, initial_state=[h0], mask=mask)
    loop_out, loop_h = rnn_of_cell(layer, go_backwards=go_backwards)(
        x, initial_state=[h0], mask=mask)
    np.testing.assert_allclose(numpy(scan_h), numpy(loop_h), atol=1e-5)
    # Keras's own loops differ at masked steps (TensorFlow repeats the last
    # output, JAX outputs the state): compare the steps they agree on.
    shown = mask[:, ::-1] if go_backwards else mask
    np.testing.assert_allclose(numpy(scan_out)[shown], numpy(loop_out)[shown], atol=1e-5)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_masked_step_keeps_the_state(x, kind):
    layer = LAYERS[kind](4, return_sequences=True, return_state=True, **RANDOM_NORM)
    padded = np.concatenate([x, np.full((3, 2, 5), 7.0, "float32")], axis=1)
    mask = np.concatenate([np.ones((3, 7), bool), np.zeros((3, 2), bool)], axis=1)
    out, h = layer(padded, mask=mask)
    expected, h_ref = layer(x)
    np.testing.assert_allclose(numpy(h), numpy(h_ref), atol=1e-6)
    np.testing.assert_allclose(numpy(out)[:, 7:], np.repeat(numpy(h_ref)[:, None], 2, 1), atol=1e-6)
    np.testing.assert_allclose(numpy(out)[:, :7], numpy(expected), atol=1e-6)


def test_log_space_stays_finite_on_long_sequences():
    x = np.random.default_rng(2).standard_normal((2, 3000, 3)).astype("float32") * 5
    for log_space in (False, True):
        out = numpy(LayerNormMinGRU(4, return_sequences=True, log_space=log_space)(x))
        assert np.isfinite(out).all()


def test_initial_state_and_stateful_continuation(x):
    layer = LayerNormMinLSTM(4, return_sequences=True, return_state=True, **RANDOM_NORM)
    full, _ = layer(x)
    _, h = layer(x[:, :3])
    second, _ = layer(x[:, 3:], initial_state=[h])
    np.testing.assert_allclose(numpy(second), numpy(full)[:, 3:], atol=1e-5)
    stateful = LayerNormMinGRU(4, stateful=True, **RANDOM_NORM)
    stateful(x[:, :3])
    np.testing.assert_allclose(numpy(stateful(x[:, 3:])),
                               numpy(keras.layers.RNN(stateful.cell)(x)), atol=1e-5)


# Gradients -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("log_space", [False, True])
def test_gradient_matches_finite_differences(kind, log_space):
    """Five-point central differences in float32, as in tests/test_layers.py.

    The weights come from NumPy, the same on every backend, and keep every
    candidate away from 0, where the log-space form's `g` bends (slope 1
    above, 1/4 below) and differences across the bend measure neither side.
    """
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    layer = LAYERS[kind](3, log_space=log_space)
    layer(x)
    for weight in layer.trainable_weights:
        weight.assign(rng.normal(1.0 if "gamma" in weight.path else 0.0, 0.5, weight.shape))
    candidates = numpy(layer.cell.project(x))[..., -3:]
    assert np.abs(candidates).min() > 0.02
    grad = loss_gradient(layer, x)
    numeric = finite_difference_gradient(layer, x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-2, atol=1e-3)


def test_masked_padding_gets_no_gradient(x):
    """Garbage behind the mask must not reach the kernel's gradient (log space too)."""
    layer = LayerNormMinGRU(4, log_space=True, **RANDOM_NORM)
    padded = np.concatenate([x, np.full((3, 2, 5), 1e3, "float32")], axis=1)
    mask = np.concatenate([np.ones((3, 7), bool), np.zeros((3, 2), bool)], axis=1)
    layer(x)
    padded_grad = loss_gradient(layer, padded, mask)
    assert np.isfinite(padded_grad).all()
    np.testing.assert_allclose(padded_grad, loss_gradient(layer, x), atol=1e-5)


# Keras behaviour: dropout, Bidirectional, saving, mixed precision, validation ---------------


def test_dropout_only_in_training(x):
    layer = LayerNormMinGRU(4, dropout=0.5, seed=1, **RANDOM_NORM)
    plain = LayerNormMinGRU(4, **RANDOM_NORM)
    plain.build(x.shape)
    inference = numpy(layer(x))
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(inference, numpy(plain(x)), atol=1e-6)
    assert np.abs(numpy(layer(x, training=True)) - inference).max() > 1e-3


def test_bidirectional_backward_half_reads_the_reversed_sequence(x):
    bidirectional = keras.layers.Bidirectional(LayerNormMinLSTM(4, return_sequences=True))
    out = numpy(bidirectional(x))
    backward = bidirectional.backward_layer
    reversed_run = numpy(rnn_of_cell(backward)(x[:, ::-1])[0])[:, ::-1]
    np.testing.assert_allclose(out[..., 4:], reversed_run, atol=1e-5)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_config_round_trip(kind):
    layer = LAYERS[kind](5, return_sequences=True, go_backwards=True, dropout=0.1, log_space=True,
                         output_norm=True, norm_epsilon=1e-5, seed=4)
    restored = LAYERS[kind].from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    assert restored.cell.log_space and restored.cell.output_norm and restored.go_backwards
    assert "unroll" not in layer.get_config()
    cell = layer.cell
    assert type(cell).from_config(cell.get_config()).get_config() == cell.get_config()


def test_keras_file_round_trip_in_fresh_process(tmp_path, x):
    inputs = keras.Input((None, 5))
    h = keras.layers.Bidirectional(LayerNormMinLSTM(4, return_sequences=True))(inputs)
    h = keras.layers.RNN(LayerNormMinGRUCell(3, log_space=True), return_sequences=True)(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(LayerNormMinGRU(3)(h)))
    assert_loads_in_fresh_process(model, x, tmp_path)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_mixed_precision(x, kind):
    layer = LAYERS[kind](4, dtype="mixed_float16", **RANDOM_NORM)
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    assert layer.cell.kernel.dtype == "float32"
    full = LAYERS[kind](4, **RANDOM_NORM)
    full(x)
    full.set_weights(layer.get_weights())
    np.testing.assert_allclose(numpy(out), numpy(full(x)), atol=1e-2)


@pytest.mark.parametrize("kwargs, message", [
    ({"units": 0}, "`units`, expected a positive integer, got 0"),
    ({"units": 4, "dropout": 1.0}, "`dropout`, expected a float in [0, 1), got 1.0"),
    ({"units": 4, "norm_epsilon": -1.0}, "`norm_epsilon`, expected a positive finite float"),
])
def test_invalid_arguments(kwargs, message):
    for cell_class in (LayerNormMinGRUCell, LayerNormMinLSTMCell):
        with pytest.raises(ValueError) as error:
            cell_class(**kwargs)
        assert message in str(error.value)
    with pytest.raises(ValueError, match="`unroll`, expected False"):
        LayerNormMinGRU(4, unroll=True)
    with pytest.raises(ValueError, match="`log_space`, expected True or False, got 'no'"):
        LayerNormMinGRU(4, log_space="no")
    with pytest.raises(ValueError, match=re.escape(
            "LayerNormMinLSTM takes `initial_state` as 1 tensor h of shape (batch, 4), got 2.")):
        h = np.zeros((3, 4), "float32")
        LayerNormMinLSTM(4)(np.zeros((3, 5, 2), "float32"), initial_state=[h, h])


@pytest.mark.parametrize("layer_class", [LayerNormMinGRU, LayerNormMinGRUCell, LayerNormMinLSTM,
                                         LayerNormMinLSTMCell])
def test_one_unit_with_output_norm_is_refused(layer_class):
    """LN over one unit is its offset: the output would be `output_norm_beta` for any input."""
    with pytest.raises(ValueError, match=re.escape(
            "Received an invalid value for argument `units`, got 1: layer normalization of the "
            "output (`output_norm=True`) over one unit leaves only its offset, so the output would "
            "not depend on the inputs; use units >= 2 or output_norm=False.")):
        layer_class(1, output_norm=True)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("log_space", [False, True])
def test_one_unit_without_output_norm_depends_on_the_inputs(kind, log_space):
    """The projection is normalized over its 2 or 3 gates together, so one unit still works."""
    x1, x2 = np.random.default_rng(1).standard_normal((2, 4, 6, 3)).astype("float32")
    layer = LAYERS[kind](1, return_sequences=True, log_space=log_space)
    assert np.abs(numpy(layer(x1)) - numpy(layer(x2))).max() > 0.1


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_wrong_inputs_name_the_expected_and_received_shapes(x, kind):
    layer = LAYERS[kind](4)
    with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=2. Full shape received: \(3, 7\)"):
        layer(x[..., 0])
    layer(x)
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value "
                                         rf"{x.shape[-1]}, but received input with shape \(3, 7, 1\)"):
        layer(x[..., :1])
    integers = np.arange(x.size, dtype="int32").reshape(x.shape) % 3
    np.testing.assert_allclose(numpy(layer(integers)), numpy(layer(integers.astype("float32"))),
                               rtol=1e-6)


def test_recurrent_layer_names_them():
    assert isinstance(recurrent_layer("mingru", 4), LayerNormMinGRU)
    assert isinstance(recurrent_layer("minlstm", 4), LayerNormMinLSTM)
    with pytest.raises(ValueError, match="no Keras counterpart"):
        recurrent_layer("mingru", 4, layer_norm=False)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_jit_compiled_fit_reduces_loss(kind):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(3).standard_normal((64, 8, 3)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None] / 5
    # Length unknown when traced: TensorFlow runs the scan's levels in a while loop.
    model = keras.Sequential([keras.Input((None, 3)), LAYERS[kind](8, return_sequences=True),
                              LAYERS[kind](8, dropout=0.1), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=True)
    losses = model.fit(x, y, epochs=15, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="only TensorFlow traces graphs whose length is unknown")
@pytest.mark.parametrize("jit_compile", [False, True])
def test_unknown_length_in_a_tensorflow_graph(x, jit_compile):
    """Forward and gradient traced for any length (XLA too), as `fit` on padded text does."""
    import tensorflow as tf

    layer = LayerNormMinLSTM(4, return_sequences=True, log_space=True, **RANDOM_NORM)
    layer(x)

    @tf.function(jit_compile=jit_compile, input_signature=[tf.TensorSpec([None, None, 5])])
    def graph(x):
        with tf.GradientTape() as tape:
            out = layer(x)
            loss = tf.reduce_sum(out ** 2)
        return out, tape.gradient(loss, layer.cell.kernel)

    assert graph.get_concrete_function().structured_outputs[0].shape.as_list() == [None, None, 4]
    for length in (7, 40):  # one chunk, two chunks
        inputs = np.resize(x, (3, length, 5))
        out, grad = graph(inputs)
        np.testing.assert_allclose(numpy(out), numpy(layer(inputs)), atol=1e-5)
        np.testing.assert_allclose(numpy(grad), loss_gradient(layer, inputs), atol=1e-4)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's export to a SavedModel (jax2tf)")
def test_a_jax_model_of_any_length_exports_to_a_saved_model(x, tmp_path):
    """`model.export(format="tf_saved_model")` with the length unknown: the scan's reshape
    failed there (`InconclusiveDimensionOperation`)."""
    tf = pytest.importorskip("tensorflow")
    inputs = keras.Input((None, 5))
    hidden = LayerNormMinGRU(4, return_sequences=True, **RANDOM_NORM)(inputs)
    model = keras.Model(inputs, LayerNormMinLSTM(3, log_space=True, **RANDOM_NORM)(hidden))
    model.export(str(tmp_path / "export"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    for length in (7, 40):  # one chunk, several
        inputs = np.resize(x, (3, length, 5))
        np.testing.assert_allclose(loaded.serve(inputs).numpy(), numpy(model(inputs)), atol=1e-5)
