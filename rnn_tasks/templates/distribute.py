"""`tf.distribute` for the templates: which strategy, which process writes, and a
scoped workaround for Keras 3 `fit` under mirrored strategies."""

import contextlib

from rnn_tasks.checks import reachable
from rnn_tasks.errors import UserError, notice


def make_strategy(kind):
    """The strategy for `train.strategy`.

    Args:
        kind: `auto` (MirroredStrategy over the GPUs when there are several,
            else the default), `mirrored` (all GPUs, or all logical CPUs
            without GPUs; a `notice:` on stderr when that is one device),
            `multi_worker` (MultiWorkerMirroredStrategy from `TF_CONFIG`),
            `tpu` (TPUStrategy; needs a TPU, not tested here).

    Returns:
        A `tf.distribute.Strategy`.
    """
    import tensorflow as tf

    if kind == "multi_worker":  # first: listing devices would start TensorFlow's runtime
        return _multi_worker_strategy()
    if kind == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        except ValueError as error:  # no TPU here
            raise UserError(f"recipe: train.strategy = 'tpu' needs a TPU "
                            f"({str(error).splitlines()[0]})") from None
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored":
        devices = gpus or tf.config.list_logical_devices("CPU")
        if len(devices) == 1:
            notice(f"train.strategy = 'mirrored' found one device ({devices[0].name}), "
                   "so it trains on one replica; for more, use several GPUs, or split the CPU into "
                   "logical devices with tf.config.set_logical_device_configuration in Python "
                   "before the first TensorFlow op (as benchmarks/distribute.py does)")
        # Logical CPUs: reduce on one device, which also takes the sparse
        # (IndexedSlices) gradients of embeddings that differ per replica.
        reduction = None if gpus else tf.distribute.ReductionToOneDevice()
        return tf.distribute.MirroredStrategy([d.name for d in devices], cross_device_ops=reduction)
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    return tf.distribute.get_strategy()


def _multi_worker_strategy():
    """`MultiWorkerMirroredStrategy` from `TF_CONFIG`; a port already taken is bad input.

    Creating it waits, inside TensorFlow's runtime, until every task of the cluster
    has joined, without a word; a `notice:` line first names the tasks not yet
    listening (the command line lets Ctrl-C end that wait: `cli.interrupt_ends_process`).
    """
    import tensorflow as tf

    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    absent = [f"{job} {index} at {address}"
              for job, addresses in resolver.cluster_spec().as_dict().items()
              for index, address in enumerate(addresses)
              if (job, index) != (resolver.task_type, resolver.task_id) and not _listening(address)]
    if absent:
        notice(f"waiting for the cluster's other tasks to start ({', '.join(absent)}); "
               "each runs the same command with its own TF_CONFIG")
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.UnknownError as error:
        if "Could not start gRPC server" not in str(error):
            raise
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        address = resolver.cluster_spec().task_address(resolver.task_type, resolver.task_id)
        raise UserError(f"TF_CONFIG: this task's address {address} is in use (another "
                        "process holds its port); stop that process or give this task a free "
                        "port") from None


def _listening(address):
    """Whether something accepts connections at `host:port` (within half a second)."""
    host, _, port = address.rpartition(":")
    return port.isdigit() and reachable(host.strip("[]"), int(port), 0.5)


def is_chief(strategy):
    """Whether this process writes the run directory and exports (always, on one machine)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (
        not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


@contextlib.contextmanager
def distributed_fit(core, dataset, strategy):
    """Lets Keras 3 `fit` run under `MirroredStrategy` and `MultiWorkerMirroredStrategy`,
    for the block only; what it patches is restored after.

    Keras builds the model, optimizer and metrics from the first batch of `fit`
    and of each validation, averaged over the replicas with an eager
    `strategy.reduce`. That fails where a batch splits unevenly (a validation
    split of 43 windows: 22 and 21 rows) and with several workers
    (keras-team/keras#20585). Here the model is built on one local batch
    instead. With several workers Keras also reduces scalar logs with
    `axis=0`, which fails; logs (already global: Keras metrics aggregate
    across workers) are averaged over this worker's replicas only. There is
    no public API for either, hence the private names.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    several_workers = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    if not (several_workers or isinstance(strategy, tf.distribute.MirroredStrategy)):
        yield
        return
    inputs, targets = next(iter(dataset.take(1)))
    with strategy.scope():
        core._symbolic_build(data_batch=(inputs, targets))
    reduce_logs = trainer._collective_all_reduce_multi_worker
    core._maybe_symbolic_build = lambda *args, **kwargs: None
    if several_workers:
        trainer._collective_all_reduce_multi_worker = lambda strategy: False
    try:
        yield
    finally:
        trainer._collective_all_reduce_multi_worker = reduce_logs
        del core._maybe_symbolic_build
