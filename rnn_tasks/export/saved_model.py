"""Write a task's `serving_default` SavedModel as TF Serving expects it.

`BASE/<version>/` holds `saved_model.pb`, `variables/`, `assets/`,
`assets.extra/tf_serving_warmup_requests` (PredictionLog records built from
real validation inputs) and `assets.extra/rnn_tasks_recipe.toml` (so
`rnn-tasks predict EXPORT_DIR` can parse raw inputs). The version folder is
written beside its target under a name TF Serving ignores, then renamed into
place, so a server watching BASE never sees half an export.
"""

import errno
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from rnn_tasks.checks import (
    EXPORTED_RECIPE,
    LARGEST_VERSION,
    automatic_version,
    check_writable,
    next_version,
)
from rnn_tasks.errors import UserError, path_argument
from rnn_tasks.recipes import write_recipe

WARMUP_FILE = "tf_serving_warmup_requests"
# What TensorFlow raises when it cannot write a file (EFBIG, ENOSPC, EACCES).
WRITE_ERRORS = (tf.errors.OutOfRangeError, tf.errors.ResourceExhaustedError,
                tf.errors.PermissionDeniedError)


def export_task(task, base_dir, version=None):
    """Exports `task` to `base_dir/<version>/` atomically.

    Args:
        task: a `Task` with a model.
        base_dir: the model base path TF Serving watches.
        version: integer version; default `automatic_version(base_dir)`, one
            more than the largest there. An existing version is never overwritten.

    Returns:
        `pathlib.Path` of the version folder.
    """
    task.require_model("export")
    base = path_argument("base_dir", base_dir)
    check_writable(base, "export:")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (int, np.integer))):
        raise UserError(f"export: version must be an integer, got {version!r}")
    chosen = automatic_version(base) if version is None else int(version)
    if not 1 <= chosen <= LARGEST_VERSION:
        raise UserError(f"export: version must be a positive integer below 2**63, got {chosen}")
    target = base / str(chosen)
    if target.exists():
        raise UserError(f"export: {target} already exists; versions are never overwritten "
                        f"(next free: {next_version(base)})")
    created = not base.exists()
    base.resolve().parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(base)
    staging = Path(tempfile.mkdtemp(prefix=f"{_staging_prefix(base)}{os.getpid()}-",
                                    dir=base.resolve().parent))
    try:
        _write_saved_model(task, staging)
        readable_by_all(staging)
        base.mkdir(exist_ok=True)  # only now: even `kill -9` leaves no empty base behind
        target = _move_into_place(staging, base, target, any_version=version is None)
    except WRITE_ERRORS as error:  # TensorFlow's own file writes: disk full, too large, denied
        raise UserError(f"export: cannot write {target}: {error.message.split(';')[-1].strip()}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not target.exists():
            shutil.rmtree(base, ignore_errors=True)
    return target


def _move_into_place(staging, base, target, any_version):
    """Renames the staging folder to `target`, atomically. If another export wrote that
    version meanwhile, takes the next free one, or refuses when the version was asked for."""
    while True:
        try:
            os.rename(staging, target)
            return target
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            if not any_version:
                raise UserError(f"export: {target} was written by another export meanwhile; "
                                f"versions are never overwritten (next free: {next_version(base)})") from None
            target = base / str(automatic_version(base))


def readable_by_all(folder):
    """Folders 0755 and files 0644 under `folder`: TF Serving often runs as another user."""
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def _staging_prefix(base):
    return f".{base.resolve().name}.export-"


def remove_abandoned_staging(base):
    """Deletes staging folders of exports to `base` whose process is gone (killed)."""
    prefix = _staging_prefix(base)
    for folder in Path(base).resolve().parent.glob(prefix + "*"):
        pid = folder.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_saved_model(task, path):
    archive = keras.export.ExportArchive()
    archive.track(task.model)
    archive.add_endpoint("serving_default", task.serving_function())
    archive.write_out(str(path), verbose=False)
    extra = path / "assets.extra"
    extra.mkdir(exist_ok=True)
    write_recipe(task.recipe, extra / EXPORTED_RECIPE)
    if task.warmup_examples:  # from fit, or the run directory after Task.load
        write_warmup_requests(extra / WARMUP_FILE, task.warmup_examples)


def write_warmup_requests(path, inputs):
    """One PredictionLog record per example, as TF Serving's warmup reads them.

    Args:
        path: output TFRecord file.
        inputs: `{input name: array [n, ...]}`.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    count = len(next(iter(inputs.values())))
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(count):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(signature_name="serving_default"))
            for name, values in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(values[i:i + 1]))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def read_warmup_requests(path):
    """The inputs of a warmup file written by `write_warmup_requests`, as
    `{input name: array [n, ...]}` (strings as bytes)."""
    from tensorflow_serving.apis import prediction_log_pb2

    rows = {}
    for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(record)
        for name, proto in log.predict_log.request.inputs.items():
            rows.setdefault(name, []).append(tf.make_ndarray(proto))
    return {name: np.concatenate(values) for name, values in rows.items()}


def non_core_ops(export_dir):
    """Op types in the SavedModel's graphs that stock TensorFlow does not register.

    An empty list means TF Serving can run the export without custom op libraries.
    """
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((Path(export_dir) / "saved_model.pb").read_bytes())
    ops, functions = set(), set()
    for meta_graph in saved.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            functions.add(function.signature.name)
            ops.update(node.op for node in function.node_def)
    return sorted(op for op in ops - functions if op_def_registry.get(op) is None)


def read_models_config(path):
    """The `ModelServerConfig` in a text-format file (empty if there is no file)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    if Path(path).is_file():
        try:
            text_format.Parse(Path(path).read_text(encoding="utf-8"), config)
        except (text_format.ParseError, UnicodeDecodeError) as error:
            reason = str(error).splitlines()[0] if isinstance(error, text_format.ParseError) \
                else "it is not UTF-8 text"
            printable = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in reason)
            raise UserError(f"{path} is not a TF Serving model config: {printable[:200]}") from None
        if config.WhichOneof("config") == "custom_model_config":
            raise UserError(f"{path} holds a custom_model_config; rnn-tasks adds models to a "
                            "model_config_list only, and will not replace it")
    return config


def unserved_version(config_path, name, version):
    """Whether TF Serving will leave out an exported version: its model's entry pins
    `model_version_policy { specific { ... } }` versions without it.

    Args:
        config_path: the text-format `ModelServerConfig` file.
        name: the model's name in it.
        version: the version just exported.

    Returns:
        A line saying so (for a `notice:`), or `None` when the server loads it.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "models.config")
    >>> _ = open(path, "w").write('model_config_list { config { name: "m" '
    ...                           'model_version_policy { specific { versions: 1 } } } }')
    >>> unserved_version(path, "m", 2)[:56]
    "models.config serves model 'm' in version(s) 1 only (its"
    """
    entry = next((m for m in read_models_config(config_path).model_config_list.config
                  if m.name == name), None)
    if entry is None or entry.model_version_policy.WhichOneof("policy_choice") != "specific":
        return None
    pinned = list(entry.model_version_policy.specific.versions)
    if version in pinned:
        return None
    return (f"{Path(config_path).name} serves model {name!r} in version(s) "
            f"{', '.join(map(str, pinned))} only (its model_version_policy); add {version} there "
            "for the server to load the version just exported")


def update_models_config(config_path, name, base_dir, serving_base=None):
    """Adds model `name` to a TF Serving `--model_config_file`, or points its entry
    at `base_dir`.

    An entry already there keeps its other fields (`model_version_policy`,
    `version_labels`, ...): only `base_path` changes, and `model_platform` is set
    when it is empty.

    Args:
        config_path: the text-format `ModelServerConfig` file (created if missing;
            other models in it are kept).
        name: the model name clients use (`/v1/models/<name>:predict`).
        base_dir: the export base folder on this machine.
        serving_base: the base folder as the server sees it (e.g.
            `/models/<name>` inside a container); default: `base_dir`, absolute.

    Returns:
        The config entry, as text.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "models.config")
    >>> print(update_models_config(path, "dates", "exports/dates", "/models/dates").strip())
    name: "dates"
    base_path: "/models/dates"
    model_platform: "tensorflow"
    """
    from google.protobuf import text_format

    path = Path(config_path)
    config = read_models_config(path)
    models = config.model_config_list.config
    entry = next((m for m in models if m.name == name), None)
    if entry is None:
        entry = models.add(name=name)
    entry.base_path = str(serving_base or Path(base_dir).resolve())
    entry.model_platform = entry.model_platform or "tensorflow"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text_format.MessageToString(config))
    os.replace(partial, path)
    return text_format.MessageToString(entry)
