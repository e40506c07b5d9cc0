"""One tiny trained run per template, shared by the template tests and the
command-line tests (which run `rnn-tasks` against these run directories).

The templates and their test modules are imported inside the fixtures: they
need TensorFlow, and the layer tests also run where it is not installed
(`benchmarks/gpu.sh` runs them on JAX and PyTorch alone).
"""

import importlib

import pytest


def template_tests(name):
    """The module `tests.test_<name>`, imported when a fixture first needs it."""
    return importlib.import_module(f"tests.test_{name}")


def train_tiny(task_class, recipe, overrides, run_dir):
    """Trains, evaluates and saves a tiny task; returns `(task, run_dir, metrics)`."""
    task = task_class.from_recipe(recipe, overrides)
    task.fit(run_dir=run_dir, verbose=0)
    metrics = task.evaluate()
    task.save(run_dir, metrics)
    return task, run_dir, metrics


@pytest.fixture(scope="session")
def prices_csv(tmp_path_factory):
    return template_tests("forecasting").write_prices(tmp_path_factory.mktemp("data") / "prices.csv")


@pytest.fixture(scope="session")
def forecasting_run(prices_csv, tmp_path_factory):
    """A tiny forecaster trained on a CSV with the default recipe's columns (`data.path`)."""
    from rnn_tasks.templates import ForecastingTask

    return train_tiny(ForecastingTask, "price_forecasting",
                      {**template_tests("forecasting").TINY, "data.path": str(prices_csv)},
                      tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def reviews_csv(tmp_path_factory):
    return template_tests("sentiment").write_reviews(tmp_path_factory.mktemp("data") / "reviews.csv")


@pytest.fixture(scope="session")
def sentiment_run(reviews_csv, tmp_path_factory):
    from rnn_tasks.templates import SentimentTask

    return train_tiny(SentimentTask, "sentiment",
                      {**template_tests("sentiment").TINY, "data.path": str(reviews_csv)},
                      tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def pairs_tsv(tmp_path_factory):
    return template_tests("translation").write_pairs(tmp_path_factory.mktemp("data") / "pairs.tsv")


@pytest.fixture(scope="session")
def translation_run(pairs_tsv, tmp_path_factory):
    from rnn_tasks.templates import TranslationTask

    return train_tiny(TranslationTask, "translation",
                      {**template_tests("translation").TINY, "data.path": str(pairs_tsv)},
                      tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def captions_csv(tmp_path_factory):
    return template_tests("captioning").write_captions_table(tmp_path_factory.mktemp("flickr"))


@pytest.fixture(scope="session")
def captioning_run(captions_csv, tmp_path_factory):
    from rnn_tasks.templates import CaptioningTask

    return train_tiny(CaptioningTask, "captioning",
                      {**template_tests("captioning").TINY, "data.path": str(captions_csv)},
                      tmp_path_factory.mktemp("run"))
