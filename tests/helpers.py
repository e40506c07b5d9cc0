"""Helpers shared by the template tests."""

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from rnn_tasks.cli import main

RNN_TASKS = str(Path(sys.executable).with_name("rnn-tasks"))  # the installed command


def cli(capsys, *args):
    """Runs `rnn-tasks args...` in-process; returns `(status, stdout, stderr)`."""
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def shell(*args, cwd, env=None, timeout=600):
    """Runs the installed `rnn-tasks args...` in its own process, as a terminal would.

    Returns:
        `subprocess.CompletedProcess` with text `stdout` and `stderr` (TensorFlow's
        native log lines included: nothing is filtered).
    """
    return subprocess.run([RNN_TASKS, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def serve_in_tensorflow_only_process(export_dir, inputs, tmp_path):
    """Calls the export's `serving_default` in a fresh process that imports only TensorFlow
    (which itself loads parts of Keras), never rnn_tasks.

    Args:
        export_dir: a version folder written by `Task.export`.
        inputs: `{input name: list}` (numbers, strings or bytes).
        tmp_path: a scratch folder.

    Returns:
        `{output name: list}`, strings decoded from UTF-8.
    """
    def encode(values):  # bytes travel as base64
        if values and isinstance(values[0], bytes):
            return {"base64": [base64.b64encode(v).decode() for v in values]}
        return {"values": values}

    (tmp_path / "request.json").write_text(json.dumps({k: encode(v) for k, v in inputs.items()}))
    code = textwrap.dedent(f"""
        import base64, json, sys
        import tensorflow as tf
        serve = tf.saved_model.load(r"{export_dir}").signatures["serving_default"]
        request = json.load(open(r"{tmp_path / 'request.json'}"))
        def decode(v):
            return [base64.b64decode(x) for x in v["base64"]] if "base64" in v else v["values"]
        specs = serve.structured_input_signature[1]  # as TF Serving: values take the input's dtype
        outputs = serve(**{{k: tf.constant(decode(v), dtype=specs[k].dtype) for k, v in request.items()}})
        assert not any(m.startswith("rnn_tasks") for m in sys.modules), "imported rnn_tasks"
        def plain(t):
            v = t.numpy()
            return [x.decode("utf-8") for x in v.tolist()] if t.dtype == tf.string else v.tolist()
        json.dump({{k: plain(t) for k, t in outputs.items()}}, open(r"{tmp_path / 'response.json'}", "w"))
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    return json.loads((tmp_path / "response.json").read_text())
