"""TranslationTask end to end: pair files, tokenization, metrics, decoding, export, CLI."""

import json

import pytest
import sacrebleu
import tensorflow as tf

from rnn_tasks.data.generators import english_spanish_dates, ordinal, spanish_date
from rnn_tasks.preprocessing.text import Tokenize, join_tokens
from rnn_tasks.errors import UserError
from rnn_tasks.export import non_core_ops
from rnn_tasks.templates import Task, TranslationTask
from rnn_tasks.templates.translation import read_pairs
from tests.helpers import cli, serve_in_tensorflow_only_process

TINY = {"train.epochs": 3, "model.units": 32, "model.embedding_dim": 16, "train.batch_size": 32,
        "train.learning_rate": 0.005, "train.patience": 0, "decode.beam_width": 3,
        "export.warmup_examples": 3}


def write_pairs(path, count=1500, seed=0):
    """A Tatoeba-layout TSV of generated date pairs; one source gets a second reference."""
    frame = english_spanish_dates(count, seed)
    lines = [f"{s}\t{t}\tCC-BY 2.0 (France) Attribution: tatoeba.org" for s, t in
             zip(frame["source"], frame["target"])]
    lines += ["", f"{frame['source'][0]}\totra traducción"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pairs(pairs_tsv):
    return pairs_tsv


@pytest.fixture(scope="module")
def trained(translation_run):
    """The session's tiny trained run (tests/conftest.py)."""
    return translation_run


def test_generated_dates_are_real_spanish():
    import datetime

    frame = english_spanish_dates(300, seed=1)
    assert frame["form"].nunique() >= 12
    assert spanish_date(datetime.date(2021, 3, 3), weekday=True) == "miércoles, 3 de marzo de 2021"
    assert spanish_date(datetime.date(1999, 12, 25), weekday=False) == "25 de diciembre de 1999"
    assert [ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]
    weekdays = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
    for source, target in zip(frame["source"], frame["target"]):
        names_weekday = any(day in source.lower() for day in
                            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                             "sunday", "mon,", "tue,", "wed,", "thu,", "fri,", "sat,", "sun,"))
        assert names_weekday == target.startswith(weekdays), (source, target)
    assert english_spanish_dates(50, seed=3).equals(english_spanish_dates(50, seed=3))


def test_tokenize_and_join_round_trip_spanish_punctuation():
    text = "¿Dónde está el niño? ¡Qué día! Dijo: «sí», l'été, 3/3/21."
    tokens = Tokenize(lowercase=False)(tf.constant([text])).numpy()[0].decode().split()
    assert tokens[:6] == ["¿", "Dónde", "está", "el", "niño", "?"]
    assert "l" in tokens and "'" in tokens and "/" in tokens
    joined = join_tokens(tf.constant([tokens]), tf.ones([1, len(tokens)], tf.bool)).numpy()[0].decode()
    assert joined.startswith("¿Dónde está el niño? ¡Qué día! Dijo: «sí»,")
    wrapped = Tokenize(wrap=True)(tf.constant(["Hola."])).numpy()[0].decode()
    assert wrapped == "[start] hola . [end]"


@pytest.mark.parametrize("content, message", [
    ("hello\thola\nno tab here\n", ":2: expected source<TAB>target"),
    ("hello\t\n", ":1: expected source<TAB>target with both sides non-empty"),
    ("\n\n", "has no sentence pairs"),
])
def test_malformed_pair_files_are_refused_by_line(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_pairs(path)


def test_pair_files_must_be_utf8(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes("niño\tchild\n".encode("latin-1"))
    with pytest.raises(UserError, match="is not UTF-8 text"):
        read_pairs(path)


def test_split_keeps_a_source_and_all_its_references_together(trained):
    task, _, _ = trained
    seen = {}
    for split, (sources, _) in task.data.splits.items():
        for source in sources:
            seen.setdefault(source.lower(), set()).add(split)
    assert all(len(splits) == 1 for splits in seen.values())


def test_metrics_agree_with_sacrebleu_on_the_translations(trained):
    task, run_dir, metrics = trained
    sources, targets = task.data.splits["test"]
    references = {}
    for source, target in zip(sources, targets):
        references.setdefault(source, []).append(target)
    hypotheses = task.generate(list(references))
    width = max(map(len, references.values()))
    streams = [[r[i] if i < len(r) else None for r in references.values()] for i in range(width)]
    assert metrics["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, streams).score)
    assert metrics["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, streams).score)
    assert metrics["n_examples"] == len(references) and metrics["n_pairs"] == len(sources)
    assert metrics["bleu"] > 30  # three short epochs already learn most of the mapping
    for name in ("recipe.toml", "model.keras", "metrics.json", "history.csv", "report.md",
                 "plots/attention.png", "plots/training_curves.png"):
        assert (run_dir / name).is_file(), name


def test_beam_width_one_translates_like_greedy(trained):
    task, _, _ = trained
    sources = list(task.data.splits["test"][0][:40])
    greedy = TranslationTask(task.recipe | {"decode": task.recipe["decode"] | {"method": "greedy"}})
    beam1 = TranslationTask(task.recipe | {"decode": task.recipe["decode"] | {"method": "beam",
                                                                             "beam_width": 1}})
    greedy.model = beam1.model = task.model
    assert greedy.generate(sources) == beam1.generate(sources)


def test_save_load_round_trip(trained):
    task, run_dir, _ = trained
    loaded = Task.load(run_dir)
    assert type(loaded) is TranslationTask
    sources = list(task.data.splits["test"][0][:10])
    assert loaded.generate(sources) == task.generate(sources)


def test_export_translates_in_a_tensorflow_only_process(trained, tmp_path):
    task, _, _ = trained
    path = task.export(tmp_path / "models")
    assert non_core_ops(path) == []
    texts = ["March 3, 2021", "Tuesday, the 3rd of March 2020", "", "¿¡ unknown words !?" * 30]
    served = serve_in_tensorflow_only_process(path, {"text": texts}, tmp_path)
    assert served["translation"] == task.generate(texts)


def test_cli_train_evaluate_predict_export(pairs, tmp_path, capsys):
    run_dir = tmp_path / "run"
    sets = [x for k, v in {**TINY, "train.epochs": 1, "data.path": json.dumps(str(pairs))}.items()
            for x in ("--set", f"{k}={v}")]
    status, _, _ = cli(capsys, "train", "translation", "--run-dir", run_dir, *sets)
    assert status == 0
    other = write_pairs(tmp_path / "other.tsv", count=100, seed=5)
    status, out, _ = cli(capsys, "evaluate", run_dir, "--data", other)
    assert status == 0 and json.loads(out)["n_pairs"] == 101
    status, from_run, _ = cli(capsys, "predict", run_dir, "March 3, 2021", "3/3/21")
    assert status == 0 and len(json.loads(from_run)["translation"]) == 2
    status, _, _ = cli(capsys, "export", run_dir, "--to", tmp_path / "models")
    status, served, _ = cli(capsys, "predict", tmp_path / "models" / "1", "March 3, 2021", "3/3/21")
    assert status == 0 and json.loads(served) == json.loads(from_run)
    bad = tmp_path / "bad.tsv"
    bad.write_text("one\tuno\ntwo dos\n", encoding="utf-8")
    status, _, err = cli(capsys, "train", "translation", "--set", f"data.path={json.dumps(str(bad))}",
                         "--run-dir", tmp_path / "bad_run")
    assert status == 2 and "bad.tsv:2: expected source<TAB>target" in err and err.count("\n") == 1
    assert not (tmp_path / "bad_run").exists()


def test_pairs_from_a_glob_of_shards(tmp_path):
    (tmp_path / "a.tsv").write_text("One.\tUno.\n", encoding="utf-8")
    (tmp_path / "b.tsv").write_text("Two.\tDos.\n", encoding="utf-8")
    assert read_pairs(tmp_path / "*.tsv")["target"].tolist() == ["Uno.", "Dos."]
