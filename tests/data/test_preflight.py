"""Preflight of an image folder, below the loader: layouts, what is a class and what is
skipped, the skip mode's relabelling, unreadable files, and the decode manifest."""

from __future__ import annotations

import json
import logging

import pytest

from augsweep.data.preflight import DatasetError, check_images, decode_error, scan_folder
from tests.helpers.imagefiles import class_folder, image_bytes, truncated_jpeg, write


def names(scan, part: str = "train") -> list[tuple[str, str]]:
    """``(file name, class)`` of a split's good images."""
    return [(path.name, scan.class_names[label]) for path, label in getattr(scan, part)]


def test_a_folder_with_both_val_and_validation_is_refused_naming_both(tmp_path):
    for split in ("train", "val", "validation"):
        class_folder(tmp_path / split, "blue", 1)
        class_folder(tmp_path / split, "red", 1)
    with pytest.raises(DatasetError, match=r"has both val/ and validation/; keep one"):
        scan_folder(tmp_path)


def test_a_test_folder_without_a_sibling_class_inside_is_a_class(tmp_path):
    class_folder(tmp_path, "blue", 2)
    write(tmp_path / "test" / "t.png", image_bytes(fmt="PNG"))  # images, no class folder
    scan = scan_folder(tmp_path)
    assert scan.class_names == ["blue", "test"] and scan.test is None
    assert ("t.png", "test") in names(scan)


def test_images_in_subfolders_belong_to_their_class_and_hidden_files_are_ignored(tmp_path):
    class_folder(tmp_path, "blue", 1)
    class_folder(tmp_path, "red", 1)
    write(tmp_path / "red" / "2024" / "may" / "deep.jpg", image_bytes())
    write(tmp_path / "red" / ".thumbs" / "hidden.jpg", b"not decoded: hidden folder")
    write(tmp_path / "red" / "._red_0.jpg", b"macOS resource fork")
    write(tmp_path / ".cache" / "x.jpg", b"a hidden folder is no class")
    write(tmp_path / "README.md", b"# photos\n")
    scan = scan_folder(tmp_path)
    assert scan.class_names == ["blue", "red"] and not scan.problems
    assert sorted(names(scan)) == [("blue_0.jpg", "blue"), ("deep.jpg", "red"),
                                   ("red_0.jpg", "red")]  # fmt: skip
    assert [str(issue) for issue in scan.skipped] == [
        f"{tmp_path / 'README.md'}: not in a class folder"
    ]


def test_a_class_of_unsupported_formats_names_the_format_not_an_empty_folder(tmp_path):
    class_folder(tmp_path, "blue", 2)
    heic = write(tmp_path / "red" / "IMG_1.HEIC", b"heic bytes")
    with pytest.raises(DatasetError) as error:
        scan_folder(tmp_path)
    message = str(error.value)
    assert f"{heic}: .heic images cannot be decoded by TensorFlow" in message
    assert "convert it to JPEG or PNG" in message and "empty class folder" not in message
    assert "1 problem(s)" in message


def test_skipping_a_class_with_only_bad_images_drops_it_and_relabels_the_others(tmp_path):
    for split in ("train", "val"):
        class_folder(tmp_path / split, "blue", 2)
        class_folder(tmp_path / split, "red", 2)
    cut = write(tmp_path / "train" / "green" / "cut.jpg", truncated_jpeg())
    write(tmp_path / "val" / "green" / "g.jpg", image_bytes())
    scan = scan_folder(tmp_path, skip_bad=True)
    assert scan.class_names == ["blue", "red"]  # green (label 1) is gone: red is now 1
    assert sorted(names(scan)) == [("blue_0.jpg", "blue"), ("blue_1.jpg", "blue"),
                                   ("red_0.jpg", "red"), ("red_1.jpg", "red")]  # fmt: skip
    assert sorted(label for _, label in scan.val) == [0, 0, 1, 1]  # green's val image dropped
    skipped = [str(issue) for issue in scan.skipped]
    assert any(line.startswith(f"{cut}: cannot be decoded") for line in skipped)
    assert any(line.endswith("green: class dropped: no usable images") for line in skipped)


def test_a_decodable_image_has_no_error_and_an_empty_or_text_file_says_why(tmp_path):
    assert decode_error(write(tmp_path / "ok.png", image_bytes(fmt="PNG"))) is None
    empty = decode_error(write(tmp_path / "empty.jpg", b""))
    text = decode_error(write(tmp_path / "notes.jpg", b"shopping list\n"))
    for error in (empty, text):
        assert error.startswith("cannot be decoded (corrupt, truncated or not an image): ")
        assert "{{" not in error and "[Op:" not in error  # TensorFlow's noise removed


def test_a_broken_link_is_reported_as_unreadable(tmp_path):
    link = tmp_path / "red" / "gone.jpg"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "deleted.jpg")
    assert check_images([link], tmp_path) == {link: "cannot be read: No such file or directory"}


def test_a_manifest_from_another_tensorflow_is_not_trusted(tmp_path, private_cache_dir, caplog):
    images = class_folder(tmp_path, "blue", 3)
    caplog.set_level(logging.INFO, logger="augsweep.data.preflight")
    check_images(images, tmp_path)
    (manifest,) = (private_cache_dir / "preflight").glob("*.json")
    data = json.loads(manifest.read_text())
    assert set(data["entries"]) == {str(path) for path in images}
    data["tensorflow"] = "1.15.0"  # another decoder may judge files differently
    manifest.write_text(json.dumps(data))
    caplog.clear()
    check_images(images, tmp_path)
    assert caplog.messages == [f"preflight: decoding 3 of 3 images in {tmp_path}"]
    caplog.clear()
    check_images(images, tmp_path)  # rewritten for this TensorFlow: nothing to decode
    assert caplog.messages == []


def test_a_cache_that_cannot_be_written_still_reports_every_bad_file(
    tmp_path, private_cache_dir, caplog
):
    private_cache_dir.parent.mkdir(parents=True, exist_ok=True)
    private_cache_dir.write_text("")  # a file where the cache folder would be
    good = class_folder(tmp_path, "blue", 1)
    cut = write(tmp_path / "blue" / "cut.jpg", truncated_jpeg())
    caplog.set_level(logging.WARNING, logger="augsweep.data.preflight")
    errors = check_images([*good, cut], tmp_path)
    assert list(errors) == [cut] and errors[cut].startswith("cannot be decoded")
    assert "cannot write the manifest" in caplog.text


def test_a_dataset_error_reads_as_its_message_where_hydra_shows_its_repr():
    error = DatasetError("dataset.path=/x: found 1 class folder(s)")
    assert repr(error) == "DatasetError: dataset.path=/x: found 1 class folder(s)"
