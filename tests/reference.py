"""Independent NumPy implementations of the cell equations in DESIGN.md.

Written from the equations, not from the library code: plain per-step
loops, the full layer normalization (mean and variance) at every use.
"""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def ln(v, gamma, beta, eps):
    mean = v.mean(-1, keepdims=True)
    var = v.var(-1, keepdims=True)
    return gamma * (v - mean) / np.sqrt(var + eps) + beta


def simple_rnn(x, w, eps, h=None):
    """x: (B, T, D); w: dict of weights by name. Returns all outputs (B, T, U)."""
    units = w["recurrent_kernel"].shape[0]
    h = np.zeros((x.shape[0], units)) if h is None else h
    outputs = []
    for t in range(x.shape[1]):
        v = x[:, t] @ w["kernel"] + h @ w["recurrent_kernel"]
        h = np.tanh(ln(v, w["norm_gamma"], w["norm_beta"], eps) + w["bias"])
        outputs.append(h)
    return np.stack(outputs, 1)


def lstm(x, w, eps, cell_norm="output", zoneout=0.0, state=None):
    """Returns (outputs (B, T, U), h, c); zoneout uses its inference expectation."""
    units = w["recurrent_kernel"].shape[0]
    h, c = state if state is not None else (np.zeros((x.shape[0], units)),) * 2
    outputs = []
    for t in range(x.shape[1]):
        z = (ln(x[:, t] @ w["kernel"], w["kernel_norm_gamma"], w["kernel_norm_beta"], eps)
             + ln(h @ w["recurrent_kernel"], w["recurrent_norm_gamma"],
                  w["recurrent_norm_beta"], eps)
             + w["bias"])
        i, f, g, o = np.split(z, 4, axis=-1)
        c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        c_norm = ln(c_new, w["state_norm_gamma"], w["state_norm_beta"], eps)
        h_new = sigmoid(o) * np.tanh(c_norm)
        c_new = c_norm if cell_norm == "state" else c_new
        h = zoneout * h + (1 - zoneout) * h_new
        c = zoneout * c + (1 - zoneout) * c_new
        outputs.append(h)
    return np.stack(outputs, 1), h, c


def gru(x, w, eps, reset_after=True, zoneout=0.0):
    """Returns all outputs (B, T, U)."""
    units = w["recurrent_kernel"].shape[0]
    h = np.zeros((x.shape[0], units))
    kernel, rec = w["kernel"], w["recurrent_kernel"]
    gx, bx = w["kernel_norm_gamma"], w["kernel_norm_beta"]
    gh, bh = w["recurrent_norm_gamma"], w["recurrent_norm_beta"]
    outputs = []
    for t in range(x.shape[1]):
        if reset_after:
            vx = ln(x[:, t] @ kernel, gx, bx, eps) + w["bias"][0]
            vh = ln(h @ rec, gh, bh, eps) + w["bias"][1]
            xz, xr, xh = np.split(vx, 3, -1)
            hz, hr, hh = np.split(vh, 3, -1)
            z, r = sigmoid(xz + hz), sigmoid(xr + hr)
            g = np.tanh(xh + r * hh)
        else:
            u = units
            vx = ln(x[:, t] @ kernel, gx, bx, eps) + w["bias"]
            vzr = ln(h @ rec[:, :2 * u], gh[:2 * u], bh[:2 * u], eps)
            z = sigmoid(vx[:, :u] + vzr[:, :u])
            r = sigmoid(vx[:, u:2 * u] + vzr[:, u:])
            g = np.tanh(vx[:, 2 * u:] + ln((r * h) @ rec[:, 2 * u:], gh[2 * u:], bh[2 * u:], eps))
        h_new = z * h + (1 - z) * g
        h = zoneout * h + (1 - zoneout) * h_new
        outputs.append(h)
    return np.stack(outputs, 1)


def g(x):
    """minGRU/minLSTM's positive candidate of the log-space form."""
    return np.where(x >= 0, x + 0.5, sigmoid(x))


def min_rnn(x, w, eps, kind, log_space=False, h=None, mask=None):
    """minGRU / minLSTM (Feng et al. 2024) with LN of the input projection, step by step.

    Args:
        kind: "gru" or "lstm".
        mask: (B, T) bools; a masked step keeps the state and repeats the output.

    Returns:
        (outputs (B, T, U), last state (B, U)).
    """
    units = w["kernel"].shape[1] // (2 if kind == "gru" else 3)
    h = np.zeros((x.shape[0], units)) if h is None else h
    outputs = []
    for t in range(x.shape[1]):
        k = ln(x[:, t] @ w["kernel"], w["kernel_norm_gamma"], w["kernel_norm_beta"], eps) + w["bias"]
        candidate = g(k[:, -units:]) if log_space else k[:, -units:]
        if kind == "gru":
            z = sigmoid(k[:, :units])
            h_new = (1 - z) * h + z * candidate
        else:
            f, i = sigmoid(k[:, :units]), sigmoid(k[:, units:2 * units])
            h_new = f / (f + i) * h + i / (f + i) * candidate
        h = h_new if mask is None else np.where(mask[:, t, None], h_new, h)
        outputs.append(h)
    return np.stack(outputs, 1), h
