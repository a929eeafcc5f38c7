"""Scoring translations: corpus BLEU and chrF from sacreBLEU, each with its signature.

BLEU (Papineni et al. 2002) is the geometric mean of 1- to 4-gram precisions of
the output against the reference, times a brevity penalty for outputs shorter
than the references; chrF (Popović 2015) is an F-score over character n-grams
(beta = 2 weights recall twice as much as precision), kinder to morphology and
to small test sets. Both are computed over the whole corpus, not averaged per
sentence. The numbers depend on tokenisation and smoothing choices, so
sacreBLEU's *signature* (e.g. `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`)
is reported beside every score: two scores compare only when the signatures match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF

from mlnotebook.errors import UserError


@dataclass(frozen=True)
class Score:
    name: str
    score: float
    signature: str
    detail: str  # sacreBLEU's full line, e.g. with the n-gram precisions

    def __str__(self) -> str:
        return f"{self.name} = {self.score:.2f}  ({self.signature})"


def _check_lengths(hypotheses: list[str], references: list[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} translations but {len(references)} references; they must pair up"
        )


def corpus_bleu(hypotheses: list[str], references: list[str]) -> Score:
    _check_lengths(hypotheses, references)
    metric = BLEU()
    result = metric.corpus_score(hypotheses, [references])
    return Score("BLEU", result.score, str(metric.get_signature()), str(result))


def corpus_chrf(hypotheses: list[str], references: list[str]) -> Score:
    _check_lengths(hypotheses, references)
    metric = CHRF()
    result = metric.corpus_score(hypotheses, [references])
    return Score("chrF", result.score, str(metric.get_signature()), str(result))


def read_tsv_pairs(path: Path) -> list[tuple[str, str]]:
    """Read `source<TAB>reference` lines; a line without exactly one tab is an error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"test file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise UserError(
                f"{path}:{number}: expected 'source<TAB>reference', found {len(fields)} fields"
            )
        pairs.append((fields[0].strip(), fields[1].strip()))
    if not pairs:
        raise UserError(f"{path}: no sentence pairs")
    return pairs


def write_tsv_pairs(path: Path, pairs: list[tuple[str, str]]) -> None:
    """Write pairs as TSV (atomically), tabs and newlines inside sentences turned to spaces."""
    from mlnotebook.translate.checkpoint import atomic_write_text

    def clean(text: str) -> str:
        return " ".join(text.replace("\t", " ").split())

    lines = [f"{clean(src)}\t{clean(ref)}\n" for src, ref in pairs]
    atomic_write_text(Path(path), "".join(lines))


def evaluate_pairs(
    translate: Callable[[list[str]], list[str]], pairs: list[tuple[str, str]]
) -> tuple[Score, Score, list[str]]:
    """Translate the sources with `translate(list[str]) -> list[str]` and score them."""
    sources = [src for src, _ in pairs]
    references = [ref for _, ref in pairs]
    hypotheses = translate(sources)
    return corpus_bleu(hypotheses, references), corpus_chrf(hypotheses, references), hypotheses


def copy_baseline(pairs: list[tuple[str, str]]) -> tuple[Score, Score]:
    """BLEU and chrF of handing each source back unchanged: the floor a model must beat."""
    bleu, chrf, _ = evaluate_pairs(lambda texts: list(texts), pairs)
    return bleu, chrf
