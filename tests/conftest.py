"""One tiny trained run per template, shared by the template tests and the
command-line tests (which run `rnn-tasks` against these run directories)."""

import pytest

from rnn_tasks.templates import CaptioningTask, ForecastingTask, SentimentTask, TranslationTask
from tests import test_captioning, test_forecasting, test_sentiment, test_translation


def train_tiny(task_class, recipe, overrides, run_dir):
    """Trains, evaluates and saves a tiny task; returns `(task, run_dir, metrics)`."""
    task = task_class.from_recipe(recipe, overrides)
    task.fit(run_dir=run_dir, verbose=0)
    metrics = task.evaluate()
    task.save(run_dir, metrics)
    return task, run_dir, metrics


@pytest.fixture(scope="session")
def prices_csv(tmp_path_factory):
    return test_forecasting.write_prices(tmp_path_factory.mktemp("data") / "prices.csv")


@pytest.fixture(scope="session")
def forecasting_run(prices_csv, tmp_path_factory):
    """A tiny forecaster trained on a CSV with the default recipe's columns (`data.path`)."""
    return train_tiny(ForecastingTask, "price_forecasting",
                      {**test_forecasting.TINY, "data.path": str(prices_csv)},
                      tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def reviews_csv(tmp_path_factory):
    return test_sentiment.write_reviews(tmp_path_factory.mktemp("data") / "reviews.csv")


@pytest.fixture(scope="session")
def sentiment_run(reviews_csv, tmp_path_factory):
    return train_tiny(SentimentTask, "sentiment",
                      {**test_sentiment.TINY, "data.path": str(reviews_csv)},
                      tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def pairs_tsv(tmp_path_factory):
    return test_translation.write_pairs(tmp_path_factory.mktemp("data") / "pairs.tsv")


@pytest.fixture(scope="session")
def translation_run(pairs_tsv, tmp_path_factory):
    return train_tiny(TranslationTask, "translation",
                      {**test_translation.TINY, "data.path": str(pairs_tsv)},
                      tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def captions_csv(tmp_path_factory):
    return test_captioning.write_captions_table(tmp_path_factory.mktemp("flickr"))


@pytest.fixture(scope="session")
def captioning_run(captions_csv, tmp_path_factory):
    return train_tiny(CaptioningTask, "captioning",
                      {**test_captioning.TINY, "data.path": str(captions_csv)},
                      tmp_path_factory.mktemp("run"))
