"""A claim about how translations are scored: BLEU and word order.

`claim_bleu_word_order`: BLEU counts matching n-grams, so a hypothesis with every
word right in a scrambled order keeps its unigram precision but loses most of its
score; and a faithful paraphrase with different words scores lower still.
"""

from __future__ import annotations

import random

from mlnotebook.translate.evaluate import corpus_bleu

REFERENCES = (
    "the cat sat on the mat near the door",
    "we will meet at the station tomorrow morning",
    "the committee approved the new budget after a long debate",
)
PARAPHRASES = (
    "a cat was sitting upon the rug by the entrance",
    "tomorrow morning we are meeting at the train station",
    "following lengthy discussion the panel accepted the fresh budget",
)


def claim_bleu_word_order(quick: bool = True) -> dict:
    rng = random.Random(0)
    scrambled = []
    for sentence in REFERENCES:
        words = sentence.split()
        rng.shuffle(words)
        scrambled.append(" ".join(words))
    references = list(REFERENCES)
    return {
        "bleu_identical": corpus_bleu(references, references).score,
        "bleu_scrambled": corpus_bleu(scrambled, references).score,
        "bleu_paraphrase": corpus_bleu(list(PARAPHRASES), references).score,
    }
