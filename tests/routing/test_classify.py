import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import routing.model
import routing.training
from routing import CATEGORIES, Classification, Entity, Hints, KeywordRule, classify
from routing.classify import classify_many
from routing.entities import find_entities
from routing.evaluate import evaluate, predict_category
from routing.model import (
    CORRECTIONS_FILE,
    HELDOUT_DIR,
    MODEL_FILE,
    TRAIN_DIR,
    Example,
    Model,
    corpus_files,
    load_or_train,
    model_dir,
    prepare,
    read_examples,
)
from routing.text import MAX_MODEL_CHARS, fold
from routing.train import install_corrections
from routing.training import train

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    corpus = tmp_path_factory.mktemp("corpus")
    shutil.copy(FIXTURES / "tiny_train.jsonl", corpus)
    return load_or_train(corpus, tmp_path_factory.mktemp("model"))


@pytest.fixture
def with_tiny_model(monkeypatch: pytest.MonkeyPatch, tiny_model: Model) -> Model:
    monkeypatch.setattr(routing.model, "shared_model", lambda: tiny_model)
    return tiny_model


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(FIXTURES / "tiny_train.jsonl", corpus)
    return corpus


# Precedence: strong hint, rules, empty, model.


def test_strong_hint_decides_over_rules_and_text() -> None:
    result = classify(
        "Şikayət edirəm, pensiyam gəlmir",
        hints=Hints("registration"),
        rules=[KeywordRule(("şikayət",), "support")],
    )
    assert result == Classification("registration", 1.0, "az", (), "hint")


def test_strong_hint_decides_even_without_text() -> None:
    assert classify("", hints=Hints("support", 1.0), default_language="ru") == (
        Classification("support", 1.0, "ru", (), "hint")
    )


def test_rule_overrides_the_model_ignoring_case_and_diacritics() -> None:
    rules = [KeywordRule(("iş saatı", "qeydiyyat"), "inquiry")]
    assert classify("QEYDIYYAT", rules=rules).source == "rule"
    result = classify("Salam, is\nsaati: nece?", rules=rules)
    assert (result.category, result.confidence, result.source) == ("inquiry", 1.0, "rule")


def test_rule_matches_whole_words_only(with_tiny_model: Model) -> None:
    rules = [KeywordRule(("qeydiyyat",), "support")]
    assert classify("qeydiyyatdan keçmək istəyirəm", rules=rules).source == "model"


def test_first_matching_rule_wins() -> None:
    rules = [KeywordRule(("pensiya",), "support"), KeywordRule(("pensiya",), "inquiry")]
    assert classify("Pensiya", rules=rules).category == "support"


def test_rule_keywords_do_not_match_inside_entities(with_tiny_model: Model) -> None:
    rules = [KeywordRule(("5zj7k2a",), "support")]
    assert classify("FIN 5ZJ7K2A", rules=rules).source == "model"


def test_weak_hint_is_blended_with_the_model(with_tiny_model: Model) -> None:
    text = "Salam, DOST mərkəzi"
    plain = classify(text)
    neutral = classify(text, hints=Hints("support", 1 / 3))
    pushed = classify(text, hints=Hints("support", 0.95))
    assert neutral.category == plain.category
    assert neutral.confidence == pytest.approx(plain.confidence)
    model = with_tiny_model.probabilities(prepare(text, ()))
    support, others = model["support"] * 0.95, (1 - model["support"]) * 0.025
    assert (pushed.category, pushed.source) == ("support", "model")
    assert pushed.confidence == pytest.approx(support / (support + others))


@pytest.mark.parametrize("hints", [Hints(None, 1.0), Hints("support", 0.0)])
def test_hint_without_category_or_confidence_is_ignored(
    with_tiny_model: Model, hints: Hints
) -> None:
    text = "Pensiyam ödənilmir, kömək edin"
    assert classify(text, hints=hints) == classify(text)


def test_hint_naming_no_category_is_an_error() -> None:
    with pytest.raises(ValueError, match="'2'"):
        classify("salam", hints=Hints("2"))


@pytest.mark.parametrize("text", ["", "   \n\t", "😀🙏👍", "...!!! ???", "\x00\x01\x02\x7f"])
def test_nothing_to_read_goes_to_triage(text: str) -> None:
    assert classify(text, default_language="en") == (
        Classification("inquiry", 0.0, "en", (), "empty")
    )


@pytest.mark.parametrize(
    "text",
    [
        bytes(range(256)).decode("latin-1") * 10,
        "Salam " + "ə" * 100_000,
        "1" * 100_000,
        "\ud800 broken surrogate",
    ],
)
def test_odd_text_is_classified_without_error(with_tiny_model: Model, text: str) -> None:
    result = classify(text)
    assert result.category in CATEGORIES
    assert 0.0 < result.confidence <= 1.0
    assert result.source == "model"


def test_result_carries_language_and_entities(with_tiny_model: Model) -> None:
    result = classify("Хочу подать заявление, мой ФИН 7AB3C4D")
    assert result.language == "ru"
    assert result.entities == (Entity("fin", "7AB3C4D", 31, 38),)
    assert result.source == "model"


def test_tiny_model_learns_its_own_examples(with_tiny_model: Model) -> None:
    examples = read_examples([FIXTURES / "tiny_train.jsonl"])
    assert evaluate(examples, predict_category).accuracy == 1.0


# The model: its input, fast scoring, persistence, fingerprint.


def test_fold_meets_typed_with_and_without_azerbaijani_letters() -> None:
    assert fold("QEYDİYYATDAN  Keçmək\nİSTƏYİRƏM") == "qeydiyyatdan kecmek isteyirem"
    assert fold("Ğ Ö Ü Ş Ç I ı ё") == "g o u s c i i е"


def test_prepare_marks_entities_and_drops_quotes_and_signature() -> None:
    text = "Salam, FIN 5ZJ7K2A, tel 0501234567\n> earlier reply\n-- \nƏli, a@b.az"
    assert prepare(text, find_entities(text)) == "salam, fin zzfin , tel zzphone"


@pytest.mark.parametrize("history", [
    "On 12.03.2025, DOST Agentliyi <info@dost.gov.az> wrote:\nqeydiyyat formu",
    "12.03.2025 tarixində DOST Agentliyi yazdı:\n> qeydiyyat formu",
    "12.03.2025, DOST Agentliyi пишет:\nqeydiyyat formu",
    "-----Original Message-----\nFrom: DOST\nSent: 12.03.2025\n\nqeydiyyat formu",
    "From: DOST Agentliyi <info@dost.gov.az>\nSent: Monday\nSubject: RE\n\nqeydiyyat formu",
])
def test_prepare_drops_the_quoted_history_below_a_reply_header(history: str) -> None:
    assert prepare(f"Salam\npensiyam gəlmir\n\n{history}", ()) == "salam pensiyam gelmir"


def test_prepare_keeps_a_sentence_that_only_mentions_writing() -> None:
    assert prepare("He wrote: nothing. From: me", ()) == "he wrote: nothing. from: me"


def test_prepare_cuts_very_long_text() -> None:
    assert len(prepare("a" * 100_000, ())) == MAX_MODEL_CHARS


def test_fast_scoring_equals_the_scikit_learn_pipeline(tiny_model: Model) -> None:
    pipeline = train(read_examples([FIXTURES / "tiny_train.jsonl"]))   # as tiny_model was
    texts = ["", "zzz", "Pensiyam ödənilmir", "Хочу подать заявление, ФИН 7AB3C4D", "hours?"]
    for text in texts:
        prepared = prepare(text, find_entities(text))
        expected = pipeline.predict_proba([prepared])[0]
        fast = tiny_model.probabilities(prepared)
        assert [fast[label] for label in tiny_model.classes] == pytest.approx(expected, abs=1e-5)


def test_a_batch_is_scored_as_each_of_its_texts_alone(tiny_model: Model) -> None:
    """`probabilities_many` (one sort of the batch's feature columns) gives each text what
    `probabilities` gives it alone, texts with no known term among them."""
    texts = ["", "zzz", "Pensiyam ödənilmir", "Хочу подать заявление, ФИН 7AB3C4D", "hours?",
             "Salam, qeydiyyatdan keçmək istəyirəm", "portal açılmır, xəta verir"] * 5
    prepared = [prepare(text, find_entities(text)) for text in texts]
    batch = tiny_model.probabilities_many(prepared)
    assert len(batch) == len(texts)
    for text, scored in zip(prepared, batch, strict=True):
        alone = tiny_model.probabilities(text)
        assert [scored[c] for c in tiny_model.classes] \
            == pytest.approx([alone[c] for c in tiny_model.classes], abs=1e-9)


def test_classify_many_decides_as_classify_does(with_tiny_model: Model) -> None:
    """Hints, rules, empty texts and the model, each message as if it came alone."""
    rules = (KeywordRule(keywords=("portal açılmır",), category="support"),)
    texts = ["Pensiyam ödənilmir", "", "🙂🙂", "portal açılmır, xəta verir",
             "Хочу подать заявление", "hours?"] * 4
    hints = [None, Hints("registration", 1.0), None, None, Hints("inquiry", 0.6), None] * 4
    languages = ["az", "ru", "az", "az", "ru", "en"] * 4
    together = classify_many(texts, hints=hints, rules=rules, default_languages=languages)
    alone = [classify(t, hints=h, rules=rules, default_language=lang)
             for t, h, lang in zip(texts, hints, languages, strict=True)]
    assert [(r.category, r.source, r.language) for r in together] \
        == [(r.category, r.source, r.language) for r in alone]
    assert [r.confidence for r in together] == pytest.approx([r.confidence for r in alone])
    assert {r.source for r in together} == {"model", "hint", "empty", "rule"}


@pytest.mark.skipif(
    not corpus_files(TRAIN_DIR) or not corpus_files(HELDOUT_DIR),
    reason="the labelled corpus (routing/corpus/train and heldout *.jsonl) is not present",
)
def test_a_batch_of_corpus_messages_is_classified_as_each_alone() -> None:
    """The shipped model on a few hundred corpus messages of every channel and language
    (FINs, phone numbers, Cyrillic, long e-mails): the batch path's per-word caches and
    batch arrays change nothing a message gets alone."""
    examples = read_examples(corpus_files(TRAIN_DIR) + corpus_files(HELDOUT_DIR))
    texts = [example.text for example in examples[::15]]
    assert len(texts) >= 300
    together = classify_many(texts)
    alone = [classify(text) for text in texts]
    assert [(r.category, r.language, r.entities, r.source) for r in together] \
        == [(r.category, r.language, r.entities, r.source) for r in alone]
    assert [r.confidence for r in together] \
        == pytest.approx([r.confidence for r in alone], rel=0, abs=1e-9)
    assert {r.language for r in together} == {"az", "ru", "en"}
    assert any(r.entities for r in together)


def test_saved_model_is_loaded_while_the_corpus_is_unchanged(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "model"
    trained = load_or_train(corpus_dir, directory)
    assert (directory / MODEL_FILE).exists()
    monkeypatch.setattr(routing.training, "train_model", _refuse_training)
    loaded = load_or_train(corpus_dir, directory)
    assert loaded.fingerprint == trained.fingerprint
    text = prepare("Pensiyam ödənilmir", ())
    assert loaded.probabilities(text) == trained.probabilities(text)


def test_changed_corpus_triggers_retraining(corpus_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "model"
    before = load_or_train(corpus_dir, directory)
    with (corpus_dir / "tiny_train.jsonl").open("a", encoding="utf-8") as corpus:
        corpus.write(json.dumps({"text": "Ünvan?", "label": "inquiry", "lang": "az"}) + "\n")
    after = load_or_train(corpus_dir, directory)
    assert after.fingerprint != before.fingerprint
    assert routing.model.load_saved(directory / MODEL_FILE).fingerprint == after.fingerprint


def test_installed_corrections_trigger_retraining(corpus_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "model"
    before = load_or_train(corpus_dir, directory)
    corrections = tmp_path / "export.jsonl"
    corrections.write_text(
        json.dumps({"text": "Sertifikat lazımdır", "label": "support", "lang": "az"}) + "\n"
        + json.dumps({"text": "Pensiyam gəlmir", "label": "support"}) + "\n",
        encoding="utf-8",
    )
    heldout = [Example("pensiyam gelmir", "support", "az_ascii")]
    assert install_corrections(corrections, heldout, directory) == (1, 1)
    assert [e.text for e in read_examples([directory / CORRECTIONS_FILE])] == [
        "Sertifikat lazımdır"
    ]
    assert load_or_train(corpus_dir, directory).fingerprint != before.fingerprint


def test_unreadable_model_file_is_rebuilt(corpus_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / MODEL_FILE).write_bytes(b"not a pickle")
    model = load_or_train(corpus_dir, directory)
    assert routing.model.load_saved(directory / MODEL_FILE).fingerprint == model.fingerprint


def test_model_is_usable_when_it_cannot_be_saved(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(model: Model, directory: Path) -> None:
        raise PermissionError(directory)

    monkeypatch.setattr(routing.model, "save", read_only)
    model = load_or_train(corpus_dir, tmp_path / "model")
    assert set(model.probabilities("salam")) == set(CATEGORIES)


def test_model_directory_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CC_MODEL_DIR", str(tmp_path))
    assert model_dir() == tmp_path


def test_training_without_a_category_is_an_error() -> None:
    with pytest.raises(ValueError, match="registration"):
        train([Example("salam", "inquiry"), Example("kömək", "support")])


def test_malformed_corpus_line_names_file_and_line(tmp_path: Path) -> None:
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"text": "a", "label": "inquiry"}\n{"text": "b", "label": "spam"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: label 'spam'"):
        read_examples([corpus])


@pytest.mark.skipif(
    not corpus_files(TRAIN_DIR) or not corpus_files(HELDOUT_DIR),
    reason="the labelled corpus (routing/corpus/train and heldout *.jsonl) is not present",
)
def test_shipped_model_reaches_macro_f1_on_heldout() -> None:
    report = evaluate(read_examples(corpus_files(HELDOUT_DIR)), predict_category)
    assert report.macro_f1 >= 0.93, report.format()


def _refuse_training(*args: object) -> None:
    raise AssertionError("the saved model should have been loaded, not retrained")


def test_a_process_with_a_saved_model_classifies_without_scikit_learn() -> None:
    """The app, the worker and its jobs load the saved arrays: scikit-learn (some 90 MB of
    memory and half a second of start) is imported only by a process that trains."""
    routing.model.shared_model()   # trained and saved here if the corpus changed
    script = (
        "import sys\n"
        "import app, worker\n"
        "from routing.classify import classify\n"
        "print(classify('Pensiyam ödənilmir, kömək edin').category)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "CC_MODEL_DIR": str(model_dir())})
    assert done.returncode == 0, done.stderr
    category, modules = done.stdout.splitlines()[-2:]
    assert category == "support"
    assert modules == "[]"
