"""The copy baseline of each held-out split: the score of 'translating' by copying the German.

German and French share names, numbers, commands and many technical words,
so copying the source already scores: 8.94 BLEU / 23.52 chrF on the
yardstick. A model's score only means something beside its split's floor,
and the floors differ (cleaning removes the identical pairs that copying gets
right), so the build records one per split, with sacreBLEU's signatures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlnotebook.translate.evaluate import copy_baseline


def copy_baselines(splits: dict[str, Sequence[tuple[str, ...]]]) -> dict[str, dict[str, Any]]:
    """{split: {pairs, bleu, chrf, bleu_signature, chrf_signature}} for each non-empty split."""
    baselines: dict[str, dict[str, Any]] = {}
    for name, pairs in splits.items():
        if not pairs:
            continue
        bleu, chrf = copy_baseline([(pair[0], pair[1]) for pair in pairs])
        baselines[name] = {
            "pairs": len(pairs),
            "bleu": round(bleu.score, 2),
            "chrf": round(chrf.score, 2),
            "bleu_signature": bleu.signature,
            "chrf_signature": chrf.signature,
        }
    return baselines
