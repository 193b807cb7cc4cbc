"""check_data on the lists users write: an empty DATA_ROOT read as the pipeline reads it
(the datalist's folder), names with stray spaces or backslashes shown as they are, cases
listed twice or in training and validation told as notes, and an inference list without
labels a note naming validate (check) but still a problem for validate's pre-flight."""

from __future__ import annotations

import json

from tests.check.broken_mmars import spleen  # noqa: F401 - fixture

from mmarctl.check.data import DataUse, check_data

READS = (("image", "LoadNifti"), ("label", "LoadNifti"))
IMAGE = "imagesTr/spleen_1.nii.gz"
LABEL = "labelsTr/spleen_1.nii.gz"


def datalist(folder, spleen, **lists):  # noqa: F811
    """A datalist in ``folder`` beside links to the spleen fixture's image folders."""
    for name in ("imagesTr", "labelsTr"):
        (folder / name).symlink_to(spleen / "data" / name)
    path = folder / "ds.json"
    path.write_text(json.dumps(lists))
    return str(path)


def use(path, base, key, **more):
    return DataUse(path, base, key, ("config/config_train.json", "x"),
                   ("config/environment.json", "DATA_ROOT"), **more)


def messages(found):
    return [str(p).partition(": ")[2] for p in found]


def test_an_empty_data_root_is_the_datalists_folder(tmp_path, spleen):  # noqa: F811
    path = datalist(tmp_path, spleen, training=[{"image": "imagesTr/nothere.nii.gz",
                                                 "label": LABEL}])
    problems, _ = check_data([use(path, "", "training", reads=READS)], str)
    assert messages(problems) == [f"training: 1 of 2 files are missing under DATA_ROOT "
                                  f"{tmp_path}: imagesTr/nothere.nii.gz"]


def test_stray_spaces_and_backslashes_are_shown(tmp_path, spleen):  # noqa: F811
    path = datalist(tmp_path, spleen, training=[
        {"image": IMAGE + " ", "label": " " + LABEL},
        {"image": IMAGE.replace("/", "\\"), "label": LABEL}])
    problems, _ = check_data([use(path, str(tmp_path), "training", reads=READS)], str)
    assert messages(problems)[0] == (
        f"training: 3 of 4 files are missing under DATA_ROOT {tmp_path}: "
        f"'{IMAGE} ' (leading/trailing whitespace; without it the file is there), "
        f"' {LABEL}' (leading/trailing whitespace; without it the file is there), "
        "'imagesTr\\\\spleen_1.nii.gz' (backslashes: paths take /; with / the file is there)")


def test_repeated_cases_are_notes(tmp_path, spleen):  # noqa: F811
    item = {"image": IMAGE, "label": LABEL}
    path = datalist(tmp_path, spleen, training=[item, item, {**item, "image": "./" + IMAGE}],
                    validation=[item])
    uses = [use(path, str(tmp_path), key, reads=READS) for key in ("training", "validation")]
    notes = []
    problems, _ = check_data(uses, str, notes=notes)
    assert problems == []
    assert messages(notes) == [
        f"training: note: 1 image is named by several items: {IMAGE} (training[0], training[1], "
        "training[2]); each copy weighs once more in every pass over the list",
        "validation: note: 1 of 1 items are also training items (the same image file): "
        "validation[0] = training[0]: the model trained on them, so results on them are "
        "optimistic"]
    assert check_data(uses, str)[0] == []  # a pre-flight has no notes to tell


def test_an_inference_list_without_labels_is_a_note_for_check_only(tmp_path, spleen):  # noqa: F811
    path = datalist(tmp_path, spleen, test=["./" + IMAGE, "imagesTr/spleen_2.nii.gz"])
    reading = use(path, str(tmp_path), "test", reads=(("image", "LoadNifti"),),
                  label_reads=(("label", "LoadNifti"),))
    notes = []
    problems, _ = check_data([reading], str, notes=notes)
    assert problems == []
    assert messages(notes) == [
        "test: note: no item of the 'test' list has 'label' (an inference list): validate would "
        "refuse it (the validation config's label_transforms (LoadNifti) read 'label'); "
        "infer can run it"]
    # validate's pre-flight (no notes): still its refusal, before compute
    assert messages(check_data([reading], str)[0]) == [
        "test: 2 of 2 items have no 'label', which LoadNifti reads: test[0], test[1]"]
    # the validation list is validate's own: labels missing there stay a problem
    (tmp_path / "val").mkdir()
    path = datalist(tmp_path / "val", spleen, validation=[{"image": IMAGE}])
    problems, _ = check_data([use(path, str(tmp_path / "val"), "validation",
                                  reads=reading.reads, label_reads=reading.label_reads)],
                             str, notes=[])
    assert messages(problems) == [
        "validation: 1 of 1 items have no 'label', which LoadNifti reads: validation[0]"]
    # some items with a label and some without: a mistake, not an inference list
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    path = datalist(mixed, spleen, test=["imagesTr/spleen_2.nii.gz",
                                         {"image": IMAGE, "label": LABEL}])
    problems, _ = check_data([use(path, str(mixed), "test", reads=reading.reads,
                                  label_reads=reading.label_reads)], str, notes=[])
    assert messages(problems) == [
        "test: 1 of 2 items have no 'label', which LoadNifti reads: test[0]"]


def test_extra_lists_near_a_known_name_are_no_typo(tmp_path, spleen):  # noqa: F811
    """Clara datalists carry fold and extra test lists (validation_1, test2): one that
    DATA_LIST_KEY selects is read, one beside the list it resembles is another list, and
    one alone near a known name is a note for check (a typo shows), never a refusal."""
    item = {"image": IMAGE, "label": LABEL}
    path = datalist(tmp_path, spleen, training=[item], validation=[item],
                    validation_1=[item], test2=[item], trainnig=[item], lables={})
    uses = [use(path, str(tmp_path), key, reads=READS)
            for key in ("training", "validation", "validation_1")]
    notes = []
    problems, _ = check_data(uses, str, notes=notes)
    # a near-miss key that holds no list stays what it was
    assert messages(problems) == ['lables: unknown key "lables" (did you mean "labels"?)']
    assert [m for m in messages(notes) if "DATA_LIST_KEY" in m] == [
        "test2: note: list 'test2' is read by no config here (a typo of \"test\"?); "
        "validate or infer it with --set DATA_LIST_KEY=test2"]
    # a verb's pre-flight (no notes) refuses none of the lists
    assert messages(check_data(uses, str)[0]) == messages(problems)
    selected = [use(path, str(tmp_path), "test2", reads=READS)]
    notes = []
    assert messages(check_data(selected, str, notes=notes)[0]) == messages(problems)
    assert not [m for m in messages(notes) if "DATA_LIST_KEY=test2" in m]


def test_the_list_training_reads_is_the_training_list(tmp_path, spleen):  # noqa: F811
    """A ``fold0`` list read by train.image_pipeline is what the model trained on: no
    "optimistic" note on it for sharing images with an unused ``training`` list, and the
    validation list is held against fold0."""
    item = {"image": IMAGE, "label": LABEL}
    other = {"image": "imagesTr/spleen_2.nii.gz", "label": "labelsTr/spleen_2.nii.gz"}
    path = datalist(tmp_path, spleen, training=[item, other], fold0=[item, other],
                    validation_1=[other])

    def reading(key, section):
        return DataUse(path, str(tmp_path), key,
                       ("config/config_train.json", f"{section}.args.data_list_file_path"),
                       ("config/environment.json", "DATA_ROOT"), reads=READS)

    notes = []
    problems, _ = check_data([reading("fold0", "train.image_pipeline"),
                              reading("validation_1", "validate.image_pipeline")],
                             str, notes=notes)
    assert problems == []
    assert messages(notes) == [
        "validation_1: note: 1 of 1 items are also items of 'fold0', the list training reads "
        "(the same image file): validation_1[0] = fold0[1]: the model trained on them, so "
        "results on them are optimistic"]
