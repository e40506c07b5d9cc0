"""Scale-out: MirroredStrategy on two logical CPUs for every template, a two-process
MultiWorkerMirroredStrategy run over loopback, and JAX DataParallel; each agrees
with one device. Also what a cluster refuses, and the TF Serving side: a models
config that keeps each model's own settings, and version numbers at their end."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnn_tasks import checks
from rnn_tasks.errors import UserError
from rnn_tasks.templates import Task
from rnn_tasks.templates.distribute import make_strategy
from tests.helpers import RNN_TASKS, cli, shell
from tests.test_forecasting import write_prices

ROOT = Path(__file__).resolve().parent.parent


def run_script(module, env=None):
    result = subprocess.run([sys.executable, "-m", module], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mirrored_on_two_logical_cpus_agrees_with_one_device_for_every_template():
    results = run_script("tests.distributed_runs")
    naive_bayes = results.pop("sentiment_naive_bayes")  # the n-gram start reaches both replicas
    assert len(naive_bayes["replica_sums"]) == 2 and naive_bayes["single_sum"] > 0
    np.testing.assert_allclose(naive_bayes["replica_sums"], naive_bayes["single_sum"], rtol=1e-6)
    assert set(results) == {"price_forecasting", "sentiment", "translation", "captioning"}
    for recipe, runs in results.items():
        assert runs["auto_replicas"] == 1 and runs["mirrored_replicas"] == 2, recipe
        # Same global batch (2 x 16 vs 32): the same training, up to the order of float sums.
        np.testing.assert_allclose(runs["mirrored"], runs["auto"], rtol=1e-2, err_msg=recipe)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_over_loopback_agrees_with_one_device(tmp_path):
    prices = write_prices(tmp_path / "prices.csv")
    sets = ["--set", f"data.path={prices}", "--set", "data.window=20", "--set", "data.horizon=3",
            "--set", "model.units=8", "--set", "train.epochs=3", "--set", "train.patience=0",
            "--set", "export.warmup_examples=2"]
    command = [sys.executable, "-m", "rnn_tasks.cli", "train", "price_forecasting"]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        workers.append(subprocess.Popen(
            [*command, "--run-dir", str(tmp_path / f"worker{index}"), *sets,
             "--set", "train.strategy=multi_worker", "--set", "train.batch_size=16"],
            env={**os.environ, "TF_CONFIG": json.dumps(config)}, cwd=tmp_path,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
    single = subprocess.run([*command, "--run-dir", str(tmp_path / "single"), *sets,
                             "--set", "train.batch_size=32"], cwd=tmp_path, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-3000:]

    assert not (tmp_path / "worker1").exists()  # only the chief writes
    chief = json.loads((tmp_path / "worker0" / "metrics.json").read_text())
    alone = json.loads((tmp_path / "single" / "metrics.json").read_text())
    # Not bitwise: data sharded over workers and gradients all-reduced sum in another order.
    # Over seeds 0-2 the two MAEs differed by 0.6-0.9 %, as with two logical devices above.
    assert chief["mae"] == pytest.approx(alone["mae"], rel=2e-2)


def test_jax_data_parallel_trains_the_layers_and_the_forecaster():
    pytest.importorskip("jax")
    results = run_script("tests.jax_data_parallel", {
        "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    for name, runs in results.items():
        assert runs["devices"] == 2, name
        np.testing.assert_allclose(runs["parallel"], runs["single"], rtol=1e-3, err_msg=name)


def test_mirrored_on_one_device_says_it_trains_one_replica(capsys):
    strategy = make_strategy("mirrored")
    err = capsys.readouterr().err
    if strategy.num_replicas_in_sync > 1:  # several GPUs
        assert err == ""
    else:
        assert err.count("\n") == 1 and err.startswith("notice: train.strategy = 'mirrored' found "
                                                       "one device")
        assert "tf.config.set_logical_device_configuration" in err


def cluster(addresses, task_type="worker", index=0):
    return {"cluster": {"worker": addresses}, "task": {"type": task_type, "index": index}}


MULTI_WORKER = {"train": {"strategy": "multi_worker"}}


@pytest.mark.parametrize("config, message", [
    (cluster(["localhost"]), "TF_CONFIG: cluster address 'localhost' (a 'worker' task) must be a "
                             "string host:port"),
    (cluster([2222]), "TF_CONFIG: cluster address 2222 (a 'worker' task) must be a string host:port"),
    (cluster(["localhost:99999"]), "TF_CONFIG: cluster address 'localhost:99999'"),
    (cluster(["localhost:2\u00b2"]), "TF_CONFIG: cluster address 'localhost:2\u00b2'"),  # not ASCII digits
    ({"cluster": {"chief": ["a:1", "b:2"], "worker": ["c:3"]}, "task": {"type": "worker", "index": 0}},
     "TF_CONFIG: the cluster's 'chief' tasks must be a list of host:port addresses (one chief)"),
    ({"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}},
     "TF_CONFIG: the cluster's 'worker' tasks must be a list of host:port addresses, got 'a:1'"),
    ({"cluster": {"ps": ["localhost:2223"], "worker": ["localhost:2224"]},
      "task": {"type": "ps", "index": 0}}, "TF_CONFIG: task type 'ps' is not one "
                                           "MultiWorkerMirroredStrategy runs"),
    ({"cluster": {"ps": ["localhost:2223"], "worker": ["localhost:2224"]},
      "task": {"type": "worker", "index": 0}}, "TF_CONFIG: cluster job 'ps' is not one "
                                               "MultiWorkerMirroredStrategy runs"),
])
def test_a_cluster_multi_worker_training_cannot_use_is_refused(monkeypatch, config, message):
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    with pytest.raises(UserError) as error:
        checks.check_cluster(MULTI_WORKER)
    assert str(error.value).startswith(message)


def test_a_cluster_of_workers_and_a_chief_passes(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"chief": ["host0:2222"], "worker": ["host1:2222", "[::1]:2222"]},
        "task": {"type": "worker", "index": 1}}))
    checks.check_cluster(MULTI_WORKER)


def test_resuming_a_multi_worker_run_is_refused_on_every_worker(monkeypatch):
    for index in (0, 1):  # before TF_CONFIG is read: the chief and the others alike
        monkeypatch.setenv("TF_CONFIG", json.dumps(cluster(["host1:2222", "host2:2222"], index=index)))
        with pytest.raises(UserError, match=r"^--resume: multi-worker runs \(train.strategy = "
                                            r"'multi_worker'\) cannot be resumed; start a new run"):
            checks.check_cluster(MULTI_WORKER, resume=True)
        task = Task.from_recipe("price_forecasting", {"train.strategy": "multi_worker"})
        with pytest.raises(UserError, match="cannot be resumed"):  # in Python too
            task.fit(run_dir="interrupted", resume=True)


def test_a_worker_prints_plain_epoch_lines_and_ends_in_one_line_when_its_chief_leaves(monkeypatch):
    """A non-chief worker's stdout is a log too; a chief that refuses its --run-dir (or
    is stopped) leaves the worker's collective ops without a peer."""
    import tensorflow as tf

    from rnn_tasks.cli import _train_as_worker

    task = Task.from_recipe("price_forecasting")
    verbosity = []

    def fit(run_dir, verbose):
        verbosity.append(verbose)
        raise tf.errors.UnavailableError(None, None, "Collective ops is aborted by: Socket closed\n"
                                                     "Additional GRPC error information: ...")

    monkeypatch.setattr(task, "fit", fit)
    with pytest.raises(UserError, match=re.escape(
            "training stopped: a task of the cluster left (Collective ops is aborted by: Socket "
            "closed); its own output says why")):
        _train_as_worker(task)
    assert verbosity == [2]  # stdout is not a terminal here: one line per epoch, no bar


def test_a_task_waiting_for_its_cluster_says_so_and_stops_on_ctrl_c(tmp_path):
    """Joining a cluster waits inside TensorFlow's runtime, where Python's handlers cannot
    run: the command names the tasks it waits for, and Ctrl-C still ends it."""
    chief, absent = [f"127.0.0.1:{port}" for port in free_ports(2)]
    process = subprocess.Popen(
        [RNN_TASKS, "train", "price_forecasting", "--run-dir", "r", "--set",
         "train.strategy=multi_worker"], cwd=tmp_path, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CONFIG": json.dumps(cluster([chief, absent]))})
    try:
        assert process.stderr.readline() == (
            f"notice: waiting for the cluster's other tasks to start (worker 1 at {absent}); each "
            "runs the same command with its own TF_CONFIG\n")
        time.sleep(2)  # into the wait
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == -signal.SIGINT  # ended by it: the shell says 130
    finally:
        process.kill()
    assert not (tmp_path / "r").exists()


def test_a_worker_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = shell("train", "price_forecasting", "--run-dir", "r", "--set", "train.strategy=multi_worker",
                       cwd=tmp_path, env={**os.environ, "TF_CONFIG": json.dumps(cluster([address]))})
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f"rnn-tasks train: error: TF_CONFIG: this task's address {address} is in use (another "
        "process holds its port); stop that process or give this task a free port"]
    assert not (tmp_path / "r").exists()


# The README's example: one model serving two versions under labels.
DATES_ENTRY = """config { name: "dates" base_path: "/models/dates" model_platform: "tensorflow"
  model_version_policy { specific { versions: 1 versions: 2 } }
  version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 2 } }"""


def test_export_to_a_models_config_keeps_the_entrys_version_policy_and_labels(tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from rnn_tasks.export.saved_model import update_models_config

    path = tmp_path / "models.config"
    path.write_text('model_config_list {\n  config { name: "prices" base_path: "/models/prices" '
                    f'model_platform: "tensorflow" }}\n  {DATES_ENTRY}\n}}\n')

    def entries():
        parsed = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
        return parsed.model_config_list.config

    expected = entries()[1]
    expected.base_path = "/srv/dates"
    update_models_config(path, "dates", tmp_path / "dates", "/srv/dates")
    update_models_config(path, "new", tmp_path / "new", "/srv/new")
    prices, dates, new = entries()
    assert dates == expected  # every field but base_path as it was
    assert list(dates.model_version_policy.specific.versions) == [1, 2]
    assert dict(dates.version_labels) == {"stable": 1, "canary": 2}
    assert (prices.name, prices.base_path) == ("prices", "/models/prices")
    assert (new.name, new.base_path, new.model_platform) == ("new", "/srv/new", "tensorflow")


def test_export_names_a_version_the_models_config_will_not_serve(forecasting_run, tmp_path,
                                                                   capsys):
    _, run_dir, _ = forecasting_run
    config = tmp_path / "models.config"
    config.write_text(f"model_config_list {{ {DATES_ENTRY} }}\n")
    args = ["export", run_dir, "--to", tmp_path / "dates", "--models-config", config]
    for version in (1, 2):  # pinned by the policy: no notice
        status, _, err = cli(capsys, *args)
        assert (status, err) == (0, ""), err
    status, _, err = cli(capsys, *args)
    assert status == 0 and err == (
        "notice: models.config serves model 'dates' in version(s) 1, 2 only (its "
        "model_version_policy); add 3 there for the server to load the version just exported\n")


def test_export_past_the_largest_version_says_so_without_naming_version(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "recipe.toml").write_text("")
    (tmp_path / "run" / "model.keras").write_text("")  # refused before it is read
    (tmp_path / "dates" / str(2**63 - 1)).mkdir(parents=True)  # TF Serving's largest
    status, out, err = cli(capsys, "export", tmp_path / "run", "--to", tmp_path / "dates")
    assert status == 2 and out == ""
    assert err.splitlines() == [
        f"rnn-tasks export: error: the highest version in {tmp_path / 'dates'}, {2**63 - 1}, "
        "already reaches the largest TF Serving allows (2**63 - 1); pass --version with a free, "
        "lower number, or export to another base folder"]
