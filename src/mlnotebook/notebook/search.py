"""Ranking entries against a few words: `mlnb notebook search WORDS`.

A small bag-of-words score, enough for a notebook of a few dozen entries. Each query word
is matched against an entry's names (term, aliases, file name) and its body, after the
same case and punctuation folding the name lookup uses, with a light prefix match so that
"normal" finds "normalisation" and "optimiser" finds "optimisers":

    score(entry) = sum over query words w of  10 * [w in names] + 3 * [w in claims]
                                              + min(count of w in body, 5)

plus 20 when the whole query is one of the entry's names. Entries scoring 0 are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlnotebook.notebook.entry import Entry
from mlnotebook.notebook.registry import Notebook, normalise_name

NAME_WEIGHT = 10
CLAIM_WEIGHT = 3
BODY_CAP = 5  # a long entry that repeats a word is not five times as relevant
EXACT_NAME_BONUS = 20
MIN_PREFIX = 4  # shorter query words must match whole words


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: int
    snippet: str  # the first body line mentioning a query word


def _words(text: str) -> list[str]:
    return normalise_name(text).split()


def _matches(query_word: str, word: str) -> bool:
    if query_word == word:
        return True
    return len(query_word) >= MIN_PREFIX and word.startswith(query_word)


def _count(query_word: str, words: list[str]) -> int:
    return sum(_matches(query_word, w) for w in words)


def score_entry(entry: Entry, query: str) -> int:
    name_words = [w for name in entry.names for w in _words(name)]
    claim_words = [w for claim in entry.claims for w in _words(claim.text)]
    body_words = _words(entry.body)
    score = 0
    for word in _words(query):
        score += NAME_WEIGHT * (_count(word, name_words) > 0)
        score += CLAIM_WEIGHT * (_count(word, claim_words) > 0)
        score += min(_count(word, body_words), BODY_CAP)
    if normalise_name(query) in {normalise_name(n) for n in entry.names}:
        score += EXACT_NAME_BONUS
    return score


def snippet(entry: Entry, query: str, width: int = 100) -> str:
    wanted = _words(query)
    for line in entry.body.splitlines():
        text = line.strip()
        if text and not text.startswith("#") and any(_count(w, _words(text)) for w in wanted):
            return text if len(text) <= width else text[: width - 1] + "…"
    return ""


def search(notebook: Notebook, query: str, limit: int = 10) -> list[Hit]:
    """Entries matching `query`, best first; ties in alphabetical order of term."""
    scored = [(score_entry(e, query), e) for e in notebook.entries.values()]
    ranked = sorted(
        ((s, e) for s, e in scored if s > 0), key=lambda item: (-item[0], item[1].term.casefold())
    )
    return [Hit(e, s, snippet(e, query)) for s, e in ranked[:limit]]
