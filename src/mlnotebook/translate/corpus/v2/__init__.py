"""The v2 German-French corpus (`data.corpus: default-v2`): cleaner, broader, same yardstick.

Built from the default corpus's Debian packages plus general-language ones
(Wesnoth campaigns, Freeciv, the FreeDict dictionary), cleaned a second time
(identical sides, English sides by language identification, length ratio,
near-duplicates), and split so that:

- `test.tsv` is the default corpus's test split, copied byte for byte (the
  yardstick every model is compared on);
- `test-clean.tsv` is the yardstick without the pairs the second cleaning
  drops, and `test-general.tsv` holds out 5% of the general-text groups;
- no German or French side of any held-out split, nor a near-copy of one,
  is in `train.tsv`.

`manifest.json` records drops per reason, split sizes, the copy baseline of
each held-out split, and the licences of the added sources. `mlnb data fetch
default-v2` builds it; `mlnb evaluate --test <dir>/test-general.tsv` scores a
model on an extra split.
"""

from mlnotebook.translate.corpus.v2.build import SPEC, build_corpus_v2, default_v2_dir

__all__ = ["SPEC", "build_corpus_v2", "default_v2_dir"]
