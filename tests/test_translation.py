"""TranslationTask end to end: pair files, tokenization, metrics, decoding, export, CLI."""

import datetime
import gzip
import json
import os
import re
import unicodedata
import zipfile
from pathlib import Path

import dateutil.parser
import hypothesis
import keras
import numpy as np
import pandas as pd
import pytest
import sacrebleu
import tensorflow as tf

from rnn_tasks.data.dates import (DAY_FIRST_FORMS, english_spanish_dates, forms_for, ordinal,
                                  ordinal_words, spanish_date)
from rnn_tasks.preprocessing.text import Tokenize, decompose, join_tokens
from rnn_tasks.errors import UserError
from rnn_tasks.losses import TokenCrossentropy
from rnn_tasks.export import non_core_ops
from rnn_tasks.templates import Task, TranslationTask
from rnn_tasks.templates.translation import read_pairs
from tests.helpers import cli, serve_in_tensorflow_only_process

ROOT = Path(__file__).resolve().parents[1]
# Three short epochs: without the recipe's regularization, which pays off only over many.
TINY = {"train.epochs": 3, "model.units": 32, "model.embedding_dim": 16, "train.batch_size": 32,
        "train.learning_rate": 0.005, "train.patience": 0, "decode.beam_width": 3,
        "export.warmup_examples": 3, "model.dropout": 0.2, "model.embedding_dropout": 0.0,
        "train.label_smoothing": 0.0}


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


# An independent reading of both sides: dateutil for the English (ordinal words turned
# into numbers first), these names for the Spanish.
MESES = "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split()
DIAS = "lunes martes miércoles jueves viernes sábado domingo".split()
ORDINALS = {word: day for day, word in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split(), 1)}
WEEKDAY = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)", re.I)


def read_spanish(text):
    """'martes, 3 de marzo de 2020' -> ('martes', date(2020, 3, 3))."""
    match = re.fullmatch(r"(?:(\w+), )?(\d+) de (\w+) de (\d{4})", text)
    assert match, text
    day, month, year = int(match[2]), MESES.index(match[3]) + 1, int(match[4])
    return match[1], datetime.date(year, month, day)


def read_english(text):
    """dateutil's reading (month first, as the generator's convention), ordinal words as numbers."""
    text = text.lower().replace("thirtieth", "30")
    text = re.sub(r"\b(twenty|thirty)[- ](\w+)", lambda m: str(
        {"twenty": 20, "thirty": 30}[m[1]] + ORDINALS[m[2]]), text)
    text = re.sub(r"\b[a-z]+\b", lambda m: str(ORDINALS.get(m[0], m[0])), text)
    return dateutil.parser.parse(text, fuzzy=True, default=datetime.datetime(1000, 1, 1)).date()


def assert_same_date(english, spanish, two_digit_year):
    weekday, date = read_spanish(spanish)
    read = read_english(english)
    if two_digit_year:  # dateutil puts 00-99 within 50 years of today; the convention is 1950-2049
        assert 1950 <= date.year <= 2049 and read.year % 100 == date.year % 100, (english, spanish)
        read = read.replace(year=date.year)
    assert read == date, (english, spanish)
    assert (weekday is not None) == bool(WEEKDAY.match(english)), (english, spanish)
    assert weekday is None or weekday == DIAS[date.weekday()], (english, spanish)


def test_generated_dates_say_the_same_date_in_both_languages():
    frame = english_spanish_dates(2000, seed=1)
    for source, target, form in zip(frame["source"], frame["target"], frame["form"]):
        assert_same_date(source, target, "{yy}" in form)
    years = frame["target"].str[-4:].astype(int)
    assert years.min() < 1910 and years.max() > 2090
    assert frame["form"].str.contains("{dw}").any() and frame["form"].str.contains("{E}").any()
    assert frame["source"].str.isupper().any() and frame["source"].str.islower().any()
    assert frame["form"].nunique() > 100
    assert english_spanish_dates(50, seed=3).equals(english_spanish_dates(50, seed=3))


def test_generator_follows_the_documented_conventions():
    assert spanish_date(datetime.date(2021, 3, 3), weekday=True) == "miércoles, 3 de marzo de 2021"
    assert [ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]
    assert [ordinal_words(d) for d in (1, 12, 20, 21, 30, 31)] == [
        "first", "twelfth", "twentieth", "twenty-first", "thirtieth", "thirty-first"]
    assert all("{yy}" not in form for form in forms_for(datetime.date(1949, 5, 20)))
    assert not set(forms_for(datetime.date(2021, 3, 12))) & set(DAY_FIRST_FORMS)  # 12/03: ambiguous
    assert set(forms_for(datetime.date(2021, 3, 13))) >= set(DAY_FIRST_FORMS)


def test_hand_typed_held_out_dates_are_right():
    """The benchmark's hand-typed dates (benchmarks/held_out_dates.tsv), written without the
    generator: each reference says the date its English says."""
    lines = (ROOT / "benchmarks" / "held_out_dates.tsv").read_text(encoding="utf-8").splitlines()
    pairs = [line.split("\t") for line in lines]
    assert len(pairs) >= 60
    for english, spanish in pairs:
        assert_same_date(english, spanish, two_digit_year=not re.search(r"\d{4}", english))


def test_tokenize_and_join_round_trip_spanish_punctuation():
    text = "¿Dónde está el niño? ¡Qué día! Dijo: «sí», l'été, 3/3/21."
    tokens = Tokenize(lowercase=False)(tf.constant([text])).numpy()[0].decode().split()
    assert tokens[:6] == ["¿", "Dónde", "está", "el", "niño", "?"]
    assert "l" in tokens and "'" in tokens and "/" in tokens
    joined = join_tokens(tf.constant([tokens]), tf.ones([1, len(tokens)], tf.bool)).numpy()[0].decode()
    assert joined.startswith("¿Dónde está el niño? ¡Qué día! Dijo: «sí»,")
    wrapped = Tokenize(wrap=True)(tf.constant(["Hola."])).numpy()[0].decode()
    assert wrapped == "[start] hola . [end]"


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_token_crossentropy_matches_numpy(smoothing):
    """Label-smoothed next-token loss, padding ignored, against NumPy (and Keras's own at 0)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 6)).astype("float32")
    ids = np.array([[3, 1, 5, 0], [2, 0, 0, 0]])
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per_token = ((1 - smoothing) * -np.take_along_axis(log_p, ids[..., None], -1)[..., 0]
                 + smoothing * -log_p.mean(-1))
    expected = per_token[ids != 0].mean()
    assert float(TokenCrossentropy(smoothing)(ids, logits)) == pytest.approx(expected, rel=1e-5)
    if not smoothing:
        keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        assert float(keras_loss(ids, logits)) == pytest.approx(expected, rel=1e-5)


def test_token_crossentropy_ignores_a_mask_the_logits_carry():
    """A subclass's decoder whose logits keep the embedding's mask trains on the same loss."""
    ids = np.array([[3, 1, 5, 0], [2, 0, 0, 0]])
    tokens = keras.Input((4,), dtype="int32")
    logits = keras.layers.Dense(6)(keras.layers.Embedding(6, 4, mask_zero=True)(tokens))
    model = keras.Model(tokens, logits)
    losses = []
    for loss in (TokenCrossentropy(), keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=0)):
        model.compile(loss=loss)
        losses.append(model.evaluate(ids, ids, verbose=0))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


JOINED_TEXTS = ["N'est-ce pas ?", "Va !", "Allons-y ! (Vite?!)", "Il est 3:30.", "« Bonjour »",
                "¿Dónde está el niño? ¡Qué día!", "Tom's here... ok", "'quoted'", "a-b-c-d",
                "l'été, 3/3/21.", "C'est l'homme qu'il faut !"]


@pytest.mark.parametrize("text", JOINED_TEXTS)
def test_joiners_rebuild_the_text_exactly(text):
    tokens = Tokenize(lowercase=False, joiners=True)(tf.constant([text])).numpy()[0].decode().split()
    plain = Tokenize(lowercase=False)(tf.constant([text])).numpy()[0].decode().split()
    assert [token.strip("￭") for token in tokens] == plain  # the same tokens, annotated
    joined = join_tokens(tf.constant([tokens]), tf.ones([1, len(tokens)], tf.bool), joiners=True)
    assert joined.numpy()[0].decode() == text


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(hypothesis.strategies.lists(
    hypothesis.strategies.text(alphabet="aé1'-!?.,«»¿( ", min_size=1, max_size=6), min_size=1,
    max_size=5))
def test_joiners_rebuild_any_singly_spaced_text(words):
    text = " ".join(word.strip() for word in words if word.strip())
    hypothesis.assume(text and "  " not in text)
    tokens = Tokenize(lowercase=False, joiners=True)(tf.constant([text])).numpy()[0].decode().split()
    joined = join_tokens(tf.constant([tokens]), tf.ones([1, len(tokens)], tf.bool), joiners=True)
    assert joined.numpy()[0].decode() == text


@pytest.mark.parametrize("content, message", [
    ("hello\thola\nno tab here\n", ":2: expected source<TAB>target"),
    ("hello\t\n", ":1: expected source<TAB>target with both sides non-empty"),
    ("hello\thola\n   \t   \n", ":2: expected source<TAB>target with both sides non-empty"),
    ("\n\n", "has no sentence pairs"),
    ("".join(f"Hi {i}.\tHola {i}.\n" for i in range(8)) + "Bye.\tAdiós.\t\n"  # a trailing tab: fine
     + "Tab\there.\tAquí.\n", ":10: 1 line\\(s\\) \\(10\\) have more tab-separated fields than the other "
     "lines' 2"),
    ("".join(f"Hi {i}.\tHola {i}.\tCC-BY\n" for i in range(8)) + "Tab\there.\tAquí.\tCC-BY\n",
     ":9: 1 line\\(s\\) \\(9\\) have more tab-separated fields than the other lines' 3; a tab "
     "inside a sentence\\? Remove it"),
])
def test_malformed_pair_files_are_refused_by_line(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_pairs(path)


def test_pair_and_text_files_must_be_utf8_and_say_which_byte(tmp_path):
    from rnn_tasks.inputs import texts_from_arguments

    path = tmp_path / "pairs.tsv"
    path.write_bytes("niño\tchild\n".encode("latin-1"))
    message = f"{path} is not UTF-8 text (invalid continuation byte: b'\\xf1'); save it as UTF-8"
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        read_pairs(path)
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):  # predict's texts
        texts_from_arguments([str(path)], "text")


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
    # Three short epochs on 1,500 pairs learn the words of 43 forms over 200 years, not yet
    # every number (the full recipe: BLEU 99.9); an untrained model scores near 0.
    assert metrics["bleu"] > 10
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
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
            "`text` must be UTF-8 text; not UTF-8 at row(s)] [0]")):
        signature(text=tf.constant([b"March 3, 2021 \xff"]))


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
    table = tmp_path / "pairs.csv"  # a table is read by its source column, as training reads it
    table.write_text('source,target\n"March 3, 2021",x\n3/3/21,y\n', encoding="utf-8")
    lines = tmp_path / "pairs.tsv"  # source<TAB>target lines: their sources
    lines.write_text("March 3, 2021\tx\n3/3/21\ty\n", encoding="utf-8")
    status, from_files, _ = cli(capsys, "predict", run_dir, table, lines)
    assert status == 0 and json.loads(from_files)["translation"] == 2 * json.loads(from_run)["translation"]
    status, _, _ = cli(capsys, "export", run_dir, "--to", tmp_path / "models")
    status, served, _ = cli(capsys, "predict", tmp_path / "models" / "1", "March 3, 2021", "3/3/21")
    assert status == 0 and json.loads(served) == json.loads(from_run)
    bad = tmp_path / "bad.tsv"
    bad.write_text("one\tuno\ntwo dos\n", encoding="utf-8")
    status, _, err = cli(capsys, "train", "translation", "--set", f"data.path={json.dumps(str(bad))}",
                         "--run-dir", tmp_path / "bad_run")
    assert status == 2 and "bad.tsv:2: expected source<TAB>target" in err and err.count("\n") == 1
    assert not (tmp_path / "bad_run").exists()


def test_decompose_is_unicodes_nfd():
    """Against Python's `unicodedata.normalize("NFD")`: accented Latin, Greek, stacked
    Vietnamese marks, CJK compatibility ideographs, every code point that NFD changes
    (space-separated, so that no marks of two characters meet); Hangul syllables stay."""
    from rnn_tasks.preprocessing.text import decompositions

    texts = ["café déjà vu", "Ελληνικά ά", "Tiếng Việt ệ ở", "\uf900\U0002f800", "plain", "",
             "e\u0301", " ".join(map(chr, decompositions()[0]))]
    got = [text.decode() for text in decompose(tf.constant(texts)).numpy()]
    assert got == [unicodedata.normalize("NFD", text) for text in texts]
    assert decompose(tf.constant("한국어 ç")).numpy().decode() == "한국어 c\u0327"  # any shape
    assert len(decompositions()[0]) > 2000


def test_a_source_in_either_unicode_form_gives_the_same_tokens(translation_run):
    task, _, _ = translation_run
    tokenize = task.preprocessing_layers()["source_tokenize"]
    typed = "Où est le café ?"
    tokens = tokenize(tf.constant([typed, unicodedata.normalize("NFD", typed)])).numpy()
    assert tokens[0] == tokens[1]


def test_pairs_from_a_glob_of_shards(tmp_path):
    (tmp_path / "a.tsv").write_text("One.\tUno.\n", encoding="utf-8")
    (tmp_path / "b.tsv").write_text("Two.\tDos.\n", encoding="utf-8")
    assert read_pairs(tmp_path / "*.tsv")["target"].tolist() == ["Uno.", "Dos."]


def test_table_rows_without_both_texts_are_dropped_and_counted():
    frame = pd.DataFrame({"source": [f"Sentence {i}." for i in range(40)] + ["Lost.", None, " "],
                          "target": [f"Frase {i}." for i in range(40)] + [None, "Nada.", "Algo."]})
    task = TranslationTask.from_recipe("translation", {"model.units": 8}, data=frame)
    task.prepare()
    assert task.data.dropped == {"too_long": 0, "missing_text": 3}
    assert sum(len(sources) for sources, _ in task.data.splits.values()) == 40


@pytest.mark.parametrize("length, message", [
    (1, "data: no pair fits max_source_length=1 and max_target_length=20 tokens; raise them (the "
        "shortest source has 2 tokens, the shortest target 2)"),
    (2, "data: the validation split is empty: the 2 usable rows hold 2 distinct source "
        "sentence(s), and all rows of one go to one split (split [0.8, 0.1, 0.1]); use data "
        "with more source sentence(s), or raise data.max_source_length / data.max_target_length: "
        "30 of 32 pairs are longer"),
])
def test_pairs_too_long_to_fit_are_named_with_the_limit_to_raise(length, message):
    frame = pd.DataFrame({"source": [f"A longer sentence {i}." for i in range(30)] + ["Hi.", "Yo."],
                          "target": [f"Frase {i}." for i in range(30)] + ["Hola.", "Eh."]})
    task = TranslationTask.from_recipe("translation", {"data.max_source_length": length}, data=frame)
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        task.prepare()


def test_pair_files_are_read_whatever_their_suffix_case_or_compression(tmp_path):
    """`.TSV`, `.tsv.gz`, a one-file `.zip`, `.CSV` tables: as their plain forms; a header
    line naming the columns is a header, not a pair."""
    lines = "".join(f"Sentence {i}.\tFrase {i}.\n" for i in range(30))
    expected = TranslationTask.from_recipe("translation", {"data.path": str(
        write_text(tmp_path / "plain.tsv", lines))}).read_pairs_frame()
    files = {"UPPER.TSV": lines.encode(), "pairs.tsv.gz": gzip.compress(lines.encode()),
             "header.tsv": ("source\ttarget\n" + lines).encode(),
             "table.CSV": ("source,target\n" + lines.replace("\t", ",")).encode()}
    with zipfile.ZipFile(tmp_path / "pairs.zip", "w") as archive:
        archive.writestr("fra.txt", lines)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    for name in [*files, "pairs.zip"]:
        read = TranslationTask.from_recipe("translation", {"data.path": str(tmp_path / name)})
        for got, want in zip(read.read_pairs_frame(), expected):
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_column_names_read_a_table_and_leave_pair_lines_alone(tmp_path):
    named = {"data.source_column": "en", "data.target_column": "es"}
    path = write_text(tmp_path / "pairs.tsv", "Hello.\tHola.\n")  # no header: pair lines
    sources, targets, _ = TranslationTask.from_recipe(
        "translation", {**named, "data.path": str(path)}).read_pairs_frame()
    assert sources.tolist() == ["Hello."] and targets.tolist() == ["Hola."]
    path = write_text(tmp_path / "pairs.txt", "en\tes\nHello.\tHola.\n")
    task = TranslationTask.from_recipe("translation", {**named, "data.path": str(path)})
    with pytest.raises(UserError, match=re.escape(
            f"data: {path} names 'en', 'es' in its first line, a header, but is read as "
            "source<TAB>target lines; name it .tsv")):
        task.read_pairs_frame()
    path = write_text(tmp_path / "other.tsv", "source\ttarget\nHello.\tHola.\n")
    task = TranslationTask.from_recipe("translation", {**named, "data.path": str(path)})
    with pytest.raises(UserError, match=re.escape(
            f"data: {path} names 'source', 'target' in its first line, a header, but is read as "
            "source<TAB>target lines; rename them to the recipe's 'en', 'es', or train with "
            "data.source_column and data.target_column naming them")):
        task.read_pairs_frame()
    task = TranslationTask.from_recipe("translation", {**named, "data.path": str(tmp_path / "gone.tsv")})
    with pytest.raises(UserError, match="data file not found: .*gone.tsv"):
        task.read_pairs_frame()
    aim = write_text(tmp_path / "aim.tsv", "aim\ttarget\nHello.\tHola.\n")  # a pair, not a header
    sources, targets, _ = TranslationTask.from_recipe(
        "translation", {"data.path": str(aim)}).read_pairs_frame()
    assert sources.tolist() == ["aim", "Hello."] and targets.tolist() == ["target", "Hola."]


def test_predict_reads_a_file_as_training_does(tmp_path):
    """A header naming a recipe column makes a TSV a table; pair lines keep their source;
    a header above pair lines is refused, in `predict` as in training."""
    columns = {"data.source_column": "en", "data.target_column": "es"}
    task, named = (TranslationTask.from_recipe("translation", keys) for keys in ({}, columns))
    files = {"sources.tsv": "source\nHello.\nGood night.\n", "pairs.txt": "Hello.\tHola.\n",
             "table.tsv": "es\ten\nHola.\tHello.\n", "headed.txt": "source\ttarget\nHello.\tHola.\n",
             "other.tsv": "source\ttarget\nHello.\tHola.\n", "t[1].tsv": "source\nHello.\n"}
    paths = {name: write_text(tmp_path / name, text) for name, text in files.items()}
    def texts(reader, name):
        return reader.inputs_from_files([str(paths[name])])["text"].tolist()

    assert texts(task, "sources.tsv") == ["Hello.", "Good night."]
    read, write = os.pipe()  # `predict RUN -`: standard input, read once, as pair lines
    os.write(write, b"Hello.\tHola.\nGood night.\tBuenas noches.\n")
    os.close(write)
    try:
        assert task.inputs_from_files([f"/dev/fd/{read}"])["text"].tolist() == ["Hello.", "Good night."]
    finally:
        os.close(read)
    assert texts(task, "pairs.txt") == texts(named, "table.tsv") == ["Hello."]
    assert texts(task, "t[1].tsv") == ["Hello."]  # a name, not a glob pattern
    for keys, name in [({}, "headed.txt"), (columns, "other.tsv")]:
        with pytest.raises(UserError, match="in its first line, a header, but is read as") as read:
            texts(TranslationTask.from_recipe("translation", keys), name)
        trained = TranslationTask.from_recipe("translation", {**keys, "data.path": str(paths[name])})
        with pytest.raises(UserError) as training:
            trained.read_pairs_frame()
        assert str(read.value) == str(training.value)


def write_text(path, text):
    path.write_text(text, encoding="utf-8")
    return path


class RenamedCore(TranslationTask):
    """A subclass whose core has its own name and layout around the template's parts."""

    def build_model(self):
        core = super().build_model()
        return keras.Model(core.inputs, core.outputs, name="my_core")


class CoreAsModel(TranslationTask):
    """A subclass whose task model is the core itself (ids in, logits out)."""

    def assemble(self, core):
        return core


class CoreWithoutParts(TranslationTask):
    def build_model(self):
        source, target = super().build_model().inputs
        logits = keras.layers.Dense(self.config.data.vocabulary_size)(
            keras.layers.Embedding(self.config.data.vocabulary_size, 4)(target))
        return keras.Model([source, target], logits)


def test_a_subclass_core_decodes_by_its_encoder_and_decoder_whatever_its_name(pairs, tmp_path):
    overrides = {**TINY, "train.epochs": 1, "data.path": str(pairs)}
    refused = CoreWithoutParts.from_recipe("translation", overrides)
    with pytest.raises(UserError, match=re.escape(
            "CoreWithoutParts.build_model returned a model without the 'encoder' layer: decoding "
            "runs the core's `encoder` and `decoder` models")):
        refused.fit(run_dir=tmp_path / "refused")  # before the first epoch
    assert refused.model is None and refused.history is None
    assert not (tmp_path / "refused" / "model.keras").exists()
    core_only = CoreAsModel.from_recipe("translation", overrides)
    core_only.prepare()
    core_only.model = core_only.assemble(core_only.build_model())  # untrained: its parts only
    assert core_only.part("decoder").name == "decoder"
    task = RenamedCore.from_recipe("translation", overrides)
    task.fit()
    assert set(task.evaluate()) >= {"bleu", "exact_match"}
    assert task.predict(["the 3rd of March 2020"])["translation"].shape == (1,)
