"""Cutting documents into blocks and aligning German with French blocks."""

from __future__ import annotations

import gzip
from collections import Counter

from mlnotebook.translate.corpus.docs_align import (
    align_by_anchor,
    align_by_sequence,
    align_documents,
    document_key,
)
from mlnotebook.translate.corpus.markup_blocks import document_blocks, html_blocks, roff_blocks


def test_document_keys_match_across_languages():
    pairs = [
        ("usr/share/libreoffice/help/de/text/a.html", "usr/share/libreoffice/help/fr/text/a.html"),
        ("usr/share/debian-reference/ch01.de.html", "usr/share/debian-reference/ch01.fr.html"),
        (
            "usr/share/doc/debian-handbook/html/de-DE/x.html",
            "usr/share/doc/debian-handbook/html/fr-FR/x.html",
        ),
        (
            "usr/share/doc/maint-guide-de/html/a.de.html",
            "usr/share/doc/maint-guide-fr/html/a.fr.html",
        ),
        ("usr/share/man/de/man1/ls.1.gz", "usr/share/man/fr/man1/ls.1.gz"),
    ]
    for german, french in pairs:
        assert document_key(german)[0] == "de" and document_key(french)[0] == "fr"
        assert document_key(german)[1] == document_key(french)[1]


def test_non_documents_and_other_languages_have_no_key():
    assert document_key("usr/share/locale/de/LC_MESSAGES/x.mo") is None
    assert document_key("usr/share/help/it/gnome-help/a.page") is None
    assert document_key("usr/share/help/de/gnome-help/figure.png") is None


def test_html_blocks_skip_code_and_navigation_links():
    markup = (
        "<html><head><title>Titel</title></head><body>"
        '<p id="par_1">Ein <b>fetter</b> Satz.</p>'
        "<pre>ls -l</pre>"
        '<li><a href="x.html">Nur ein Link</a></li>'
        '<div class="para">Absatz <code>x</code> mit <div class="note"><p>Hinweis</p></div></div>'
        "</body></html>"
    )
    blocks = html_blocks(markup)
    assert [(b.tag, b.text) for b in blocks] == [
        ("title", "Titel"),
        ("p", "Ein fetter Satz."),
        ("para", "Absatz x mit"),
        ("p", "Hinweis"),
    ]
    assert blocks[1].anchor == "par_1"


def test_roff_blocks_strip_escapes_and_skip_examples():
    source = "\n".join(
        [
            '.\\" a comment',
            ".TH LS 1",
            ".SH BESCHREIBUNG",
            "Listet \\fBDateien\\fP auf \\- schnell.",
            "Zweite Zeile.",
            ".TP",
            "\\fB\\-a\\fR",
            "zeigt alles",
            ".nf",
            "code here",
            ".fi",
            ".PP",
            ".B fett",
            "und normal",
        ]
    )
    texts = [(b.tag, b.text) for b in roff_blocks(source)]
    assert texts == [
        ("sh", "BESCHREIBUNG"),
        ("p", "Listet Dateien auf - schnell. Zweite Zeile."),
        ("tp", "-a"),
        ("p", "zeigt alles"),
        ("p", "fett und normal"),
    ]
    gz = gzip.compress(source.encode())
    assert document_blocks("usr/share/man/de/man1/ls.1.gz", gz) == roff_blocks(source)


def test_align_by_anchor_pairs_same_ids_only():
    german = html_blocks('<p id="a">Eins</p><p id="b">Zwei</p><p id="c">Drei</p>')
    french = html_blocks('<p id="c">Trois</p><p id="a">Un</p>')
    assert {(d.text, f.text) for d, f in align_by_anchor(german, french)} == {
        ("Eins", "Un"),
        ("Drei", "Trois"),
    }


def test_sequence_alignment_skips_an_extra_block():
    german = html_blocks("<h1>Titel 1</h1><p>Eins</p><p>Zwei <b>b</b></p><p>Drei</p>")
    french = html_blocks(
        "<h1>Titre 1</h1><p>Un</p><p>Ajout</p><h2>Extra</h2><p>Deux <b>b</b></p><p>Trois</p>"
    )
    matched = [(d.text, f.text) for d, f in align_by_sequence(german, french)]
    assert ("Titel 1", "Titre 1") in matched and ("Zwei b", "Deux b") in matched
    assert ("Drei", "Trois") in matched
    assert all(f != "Extra" for _, f in matched)


def test_align_documents_counts_what_it_cannot_pair():
    german = {"k": ("manual-de", html_blocks("<p>Eins</p><h2>Nur Deutsch 2</h2>"))}
    french = {"k": ("manual-fr", html_blocks("<p>Un</p>")), "only-fr": ("manual-fr", [])}
    drops: Counter[str] = Counter()
    pairs = align_documents(german, french, drops)
    assert [(p.de, p.fr, p.group, p.source) for p in pairs] == [("Eins", "Un", "k", "manual")]
    assert drops["docs: block without a partner"] == 1
    assert drops["docs: file in one language only"] == 1
