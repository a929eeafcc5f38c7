"""The default German-French corpus, built from Debian packages at run time.

`build_corpus()` fetches documentation and message-catalog packages with apt,
pairs their German and French texts by structure (documents) or by English
msgid (catalogs), cleans, splits, and writes train/valid/test TSVs beside a
`manifest.json`. Nothing from the packages is stored in this repository.
"""

from mlnotebook.translate.corpus.build import BuildResult, build_corpus
from mlnotebook.translate.corpus.debian import default_corpus_dir

__all__ = ["BuildResult", "build_corpus", "default_corpus_dir"]
