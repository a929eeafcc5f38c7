"""General-language German-French text from Debian packages: games and a dictionary.

Everything in the default corpus is software text. Three package families
add other registers, through the same download-extract-clean path:

- The campaigns of The Battle for Wesnoth (`wesnoth-1.16-*`): story dialogue
  and narration, translated through gettext catalogs under
  `usr/share/games/wesnoth/1.16/locale/{de,fr}/LC_MESSAGES/`, so the catalog
  reader pairs them by English msgid like any other program's. The data
  package adds unit descriptions and the in-game help.
- `freeciv-data`: Freeciv's nations, units, buildings and its in-game
  encyclopaedia, also as gettext catalogs.
- `dict-freedict-deu-fra`: the FreeDict German-French dictionary (dictd
  format, read by `dictd.py`); single words, used for training only.

Tried and not kept: 0ad's translations ship only inside `0ad-data` (1.4 GB,
five times all other packages together); `0ad-data-common` has none.
`wesnoth-1.16-core` holds the engine and no catalogs.
"""

from __future__ import annotations

from pathlib import Path

from mlnotebook.translate.corpus.deb_archive import iter_data_files
from mlnotebook.translate.corpus.pairs import CandidatePair
from mlnotebook.translate.corpus.v2.dictd import dictionary_pairs, read_dictionary

WESNOTH_CAMPAIGNS = "did dm dw ei httt l low nr sof sota sotbe thot trow tsg ttb utbs".split()
GENERAL_PACKAGES = (
    "wesnoth-1.16-data",
    *(f"wesnoth-1.16-{campaign}" for campaign in WESNOTH_CAMPAIGNS),
    "freeciv-data",
)
DICTIONARY_PACKAGES = ("dict-freedict-deu-fra",)
# From each package's debian/copyright, for the manifest and the credits.
LICENCES = {
    **{name: "GPL-2 (The Battle for Wesnoth)" for name in GENERAL_PACKAGES if "wesnoth" in name},
    "freeciv-data": "GPL-2+ (Freeciv)",
    "dict-freedict-deu-fra": "CC-BY-SA-3.0 (FreeDict / WikDict, from Wiktionary)",
}
_DICTD_DIR = "usr/share/dictd/"


def is_dictd_file(path: str) -> bool:
    return path.startswith(_DICTD_DIR) and path.endswith((".index", ".dict", ".dict.dz"))


def read_dictionary_package(deb: Path, source: str) -> list[CandidatePair]:
    """The word pairs of every dictd database inside the .deb at `deb`."""
    files = dict(iter_data_files(deb, is_dictd_file))
    pairs = []
    for index_path in sorted(p for p in files if p.endswith(".index")):
        stem = index_path.removesuffix(".index")
        data = files.get(f"{stem}.dict.dz") or files.get(f"{stem}.dict")
        if data is not None:
            index_text = files[index_path].decode("utf-8")
            pairs += dictionary_pairs(read_dictionary(index_text, data), source)
    return pairs
