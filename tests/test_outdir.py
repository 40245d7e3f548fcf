"""Output folders: dse writes into new, empty or its own folders, refuses a user's before writing, deletes only
files it wrote, and overwrites a user's files only when forced."""

from __future__ import annotations

import pytest

from dse.outdir import MARKER, OutputFolderError, Writing, claim, read_marker

NAMES = ("a.png", "b.csv")


def write(folder, names, force=False, kind="report"):
    out = Writing(claim(folder, kind, NAMES, force))
    for name in names:
        out.file(name).write_text(f"dse {name}\n")
    out.done()


def test_a_new_folder_is_made_and_marked(tmp_path):
    folder = tmp_path / "new" / "deeper"
    write(folder, NAMES)
    assert sorted(p.name for p in folder.iterdir()) == [MARKER, *NAMES]
    assert read_marker(folder, "report") == set(NAMES)


def test_an_empty_folder_is_used(tmp_path):
    write(tmp_path, NAMES[:1])
    assert (tmp_path / "a.png").read_text() == "dse a.png\n"


def test_a_folder_of_the_users_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "a.png").write_text("mine\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(OutputFolderError, match="did not make and holds files .*a.png, notes.txt.*--force") as info:
        claim(tmp_path, "report", NAMES)
    assert len(str(info.value).splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "notes.txt"]


def test_force_overwrites_the_users_files_of_the_same_name_and_keeps_the_others(tmp_path):
    (tmp_path / "a.png").write_text("mine\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    write(tmp_path, NAMES, force=True)
    assert (tmp_path / "a.png").read_text() == "dse a.png\n" and (tmp_path / "notes.txt").read_text() == "mine\n"
    assert read_marker(tmp_path, "report") == set(NAMES)  # notes.txt is still the user's
    write(tmp_path, NAMES[1:])  # without --force now: the folder is dse's
    assert not (tmp_path / "a.png").exists() and (tmp_path / "notes.txt").read_text() == "mine\n"


def test_a_rerun_replaces_its_own_files_and_deletes_only_those_it_no_longer_writes(tmp_path):
    write(tmp_path, NAMES)
    (tmp_path / "notes.txt").write_text("mine\n")  # the user adds a file to dse's folder
    write(tmp_path, NAMES[1:])
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER, "b.csv", "notes.txt"]
    assert read_marker(tmp_path, "report") == {"b.csv"}


def test_a_users_file_of_a_name_dse_writes_is_refused_in_dses_folder(tmp_path):
    write(tmp_path, NAMES[1:])
    (tmp_path / "a.png").write_text("mine\n")
    with pytest.raises(OutputFolderError, match="would overwrite \\(a.png\\).*--force"):
        claim(tmp_path, "report", NAMES)
    assert (tmp_path / "a.png").read_text() == "mine\n"


def test_another_commands_folder_is_not_this_ones(tmp_path):
    write(tmp_path, NAMES, kind="export")
    with pytest.raises(OutputFolderError, match="dse report did not make"):
        claim(tmp_path, "report", NAMES)
    write(tmp_path, NAMES[1:], force=True)  # forced: the export's a.png is not the report's to delete
    assert (tmp_path / "a.png").is_file() and read_marker(tmp_path, "report") == {"b.csv"}


def test_a_marker_naming_paths_outside_the_folder_deletes_nothing_there(tmp_path):
    folder = tmp_path / "out"
    write(folder, NAMES)
    (tmp_path / "precious.txt").write_text("mine\n")
    marker = folder / MARKER
    marker.write_text(marker.read_text() + "../precious.txt\n..\n")
    write(folder, NAMES)
    assert (tmp_path / "precious.txt").read_text() == "mine\n"


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputFolderError, match="f is a file, not a folder"):
        claim(tmp_path / "f" / "out", "report", NAMES, force=True)


def test_a_run_killed_midway_leaves_its_files_listed_as_dses(tmp_path):
    out = Writing(claim(tmp_path, "report", NAMES))
    out.file("a.png").write_text("half\n")  # no done(): the process died here
    assert read_marker(tmp_path, "report") == {"a.png"}
    write(tmp_path, NAMES)  # the rerun is not refused over its own file
    assert (tmp_path / "a.png").read_text() == "dse a.png\n"
