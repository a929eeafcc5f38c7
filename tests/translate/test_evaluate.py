"""BLEU and chrF through sacreBLEU, with signatures; the test-set reader."""

from __future__ import annotations

import pytest
import sacrebleu

from mlnotebook.errors import UserError
from mlnotebook.translate.evaluate import (
    corpus_bleu,
    corpus_chrf,
    evaluate_pairs,
    read_tsv_pairs,
    write_tsv_pairs,
)

HYPOTHESES = ["le chat est assis sur le tapis", "il fait beau aujourd'hui", "bonjour"]
REFERENCES = ["le chat était assis sur le tapis", "il fait beau aujourd'hui", "bonsoir"]


def test_identical_output_scores_100():
    assert corpus_bleu(REFERENCES, REFERENCES).score == pytest.approx(100.0)
    assert corpus_chrf(REFERENCES, REFERENCES).score == pytest.approx(100.0)


def test_scores_match_sacrebleu_and_carry_signatures():
    bleu = corpus_bleu(HYPOTHESES, REFERENCES)
    chrf = corpus_chrf(HYPOTHESES, REFERENCES)
    assert bleu.score == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score)
    assert chrf.score == pytest.approx(sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES]).score)
    assert 0 < bleu.score < 100 and 0 < chrf.score < 100
    assert bleu.signature.startswith("nrefs:1|") and "tok:13a" in bleu.signature
    assert "nc:6" in chrf.signature
    assert str(bleu).startswith("BLEU = ") and bleu.signature in str(bleu)


def test_bleu_by_hand_on_a_two_sentence_corpus():
    # hypothesis "a b c d" vs reference "a b c e": precisions 3/4, 2/3, 1/2, 0/1, and
    # sacreBLEU's default 'exp' smoothing replaces the zero 4-gram count by 1/2^1.
    import math

    score = corpus_bleu(["a b c d"], ["a b c e"]).score
    precisions = [3 / 4, 2 / 3, 1 / 2, (1 / 2) / 1]
    expected = 100 * math.exp(sum(math.log(p) for p in precisions) / 4)
    assert score == pytest.approx(expected, rel=1e-6)


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 translations but 3 references"):
        corpus_bleu(HYPOTHESES[:2], REFERENCES)


def test_tsv_round_trip_and_errors(tmp_path):
    path = tmp_path / "pairs.tsv"
    write_tsv_pairs(path, [("Hallo\tWelt", "Bonjour\nle monde"), ("Ja", "Oui")])
    assert read_tsv_pairs(path) == [("Hallo Welt", "Bonjour le monde"), ("Ja", "Oui")]
    path.write_text("Hallo\tBonjour\nkaputt\n")
    with pytest.raises(UserError, match=r"pairs\.tsv:2: expected 'source<TAB>reference'"):
        read_tsv_pairs(path)
    path.write_bytes(b"Hallo\tBonjour\n\xff\xfe\n")
    with pytest.raises(UserError, match="not UTF-8"):
        read_tsv_pairs(path)
    with pytest.raises(UserError, match="not found"):
        read_tsv_pairs(tmp_path / "missing.tsv")


def test_evaluate_pairs_translates_sources_in_order():
    pairs = [("eins", "un"), ("zwei", "deux")]
    lookup = {"eins": "un", "zwei": "trois"}
    bleu, chrf, outputs = evaluate_pairs(lambda texts: [lookup[t] for t in texts], pairs)
    assert outputs == ["un", "trois"]
    assert bleu.score == pytest.approx(sacrebleu.corpus_bleu(outputs, [["un", "deux"]]).score)
    assert chrf.score < 100


def test_copy_baseline_scores_the_sources_against_the_references():
    from mlnotebook.translate.evaluate import copy_baseline

    pairs = [("Datei öffnen", "Ouvrir le fichier"), ("Hilfe", "Aide"), ("GNU/Linux", "GNU/Linux")]
    bleu, chrf = copy_baseline(pairs)
    sources, references = [s for s, _ in pairs], [r for _, r in pairs]
    assert bleu.score == corpus_bleu(sources, references).score
    assert chrf.score == corpus_chrf(sources, references).score
    assert 0.0 < chrf.score < 100.0  # the untranslated name matches, the rest does not
