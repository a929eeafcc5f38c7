"""Reading fake .debs (ar + data.tar.{xz,gz,none}) and the apt-missing message."""

from __future__ import annotations

import pytest

from mlnotebook.errors import UserError
from mlnotebook.translate.corpus import debian
from mlnotebook.translate.corpus.deb_archive import iter_data_files, read_ar_members
from tests.translate.corpus_fakes import write_deb


@pytest.mark.parametrize("compression", ["xz", "gz", "none"])
def test_iter_data_files_returns_only_wanted_files(tmp_path, compression):
    files = {
        "usr/share/locale/de/LC_MESSAGES/a.mo": b"odd-sized payload",
        "usr/share/doc/x/readme": b"skip me",
    }
    deb = write_deb(tmp_path, "pkg", "1:2.0-1", files, compression)
    assert set(read_ar_members(deb)) >= {"debian-binary", "control.tar.xz"}
    found = dict(iter_data_files(deb, lambda path: path.endswith(".mo")))
    assert found == {"usr/share/locale/de/LC_MESSAGES/a.mo": b"odd-sized payload"}


def test_not_a_deb_is_a_user_error(tmp_path):
    bogus = tmp_path / "x_1_all.deb"
    bogus.write_bytes(b"hello")
    with pytest.raises(UserError, match="not a Debian package"):
        list(iter_data_files(bogus, lambda path: True))


def test_version_is_read_from_the_file_name(tmp_path):
    deb = write_deb(tmp_path, "libreoffice-help-de", "4:7.4.7-1", {})
    assert debian.package_name_version(deb) == ("libreoffice-help-de", "4:7.4.7-1")


def test_missing_apt_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    with pytest.raises(UserError) as error:
        debian.download_packages(["manpages-de"], tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert "Debian-based system with apt" in message and "train.de" in message


def test_data_home_honours_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("MLNB_DATA_DIR", str(tmp_path / "a"))
    assert debian.data_home() == tmp_path / "a"
    monkeypatch.delenv("MLNB_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert debian.default_corpus_dir() == tmp_path / "xdg" / "mlnotebook" / "debian-de-fr"


def test_package_lists_ship_with_the_package():
    assert "libreoffice-help-de" in debian.documentation_packages()
    assert len(debian.gettext_packages()) == 200
