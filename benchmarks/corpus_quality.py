"""Count the data-quality problems of a built corpus, per split, without changing it.

    python benchmarks/corpus_quality.py ~/.local/share/mlnotebook/debian-de-fr

For each split file (`train.tsv`, `valid.tsv`, `test.tsv`, any `test-*.tsv`)
it prints how many pairs have identical sides, an English German or French
side (the v2 language judge), a length ratio above 2.5, or repeat an earlier
pair up to case, digits and punctuation (the v2 filters in
`corpus/v2/pair_filters.py`, here only measuring). A pair can count under
several problems. For each held-out split it also counts the pairs with a side
that is a near-copy of a training side (the same words, ignoring case, digits
and punctuation): leakage that exact-match de-duplication does not see.
docs/corpus.md quotes the numbers for the default corpus.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlnotebook.translate.corpus.v2.language_id import LanguageJudge
from mlnotebook.translate.corpus.v2.pair_filters import RefineConfig, count_problems, side_key
from mlnotebook.translate.corpus.v2.yardstick import read_pairs


def _split_files(directory: Path) -> list[Path]:
    named = [directory / f"{name}.tsv" for name in ("train", "valid", "test")]
    return [p for p in named if p.is_file()] + sorted(directory.glob("test-*.tsv"))


def measure(directory: Path) -> dict[str, dict[str, int]]:
    """{split: {problem: pairs}} for every split file in `directory`."""
    config, judge = RefineConfig(), LanguageJudge()
    splits = {path.stem: read_pairs(path) for path in _split_files(directory)}
    train_keys = {side_key(side) for pair in splits.get("train", []) for side in pair}
    results = {}
    for name, pairs in splits.items():
        counts = count_problems(pairs, config, judge)
        if name != "train":
            counts["a side near-copies a train side"] = sum(
                side_key(de) in train_keys or side_key(fr) in train_keys for de, fr in pairs
            )
        results[name] = dict(sorted(counts.items()))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", type=Path, help="a folder written by `mlnb data fetch`")
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args()
    results = measure(args.corpus_dir)
    for name, counts in results.items():
        print(name)
        for problem, count in counts.items():
            print(f"  {problem:<36} {count:>8,}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
