"""The results archive: what it keeps, and that a distilled run only comes back beside its own teacher."""
import json
import os
import shutil

import pytest
import torch

from conftest import load_tool
from densekd.core.archive import archive_runs, file_fingerprint, restore_files, restore_runs, weights_fingerprint
from densekd.core.errors import InvalidValue, MissingFile


def save_checkpoint(path, value, **extra):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({"state_dict": {"conv.weight": torch.full((2, 2), value), "bn.num_batches_tracked": torch.tensor(3)},
                **extra}, path)


def finished_run(run_dir, teacher=None, ckpt_value=None, load_from=None):
    """A run folder as tools/train.py + tools/test.py leave it."""
    os.makedirs(os.path.join(run_dir, "logs", "version_0"))
    with open(os.path.join(run_dir, "config.py"), "w") as f:
        f.write(f"teacher = dict(checkpoint={teacher!r})\n" if teacher else "teacher = None\n")
        f.write(f"load_from = {load_from!r}\n")
    for name, content in (("train_summary.json", {"iterations": 10}), ("metrics.json", {"mIoU": 12.5})):
        with open(os.path.join(run_dir, name), "w") as f:
            json.dump(content, f)
    with open(os.path.join(run_dir, "logs", "version_0", "metrics.csv"), "w") as f:
        f.write("step,train/loss\n0,1.0\n")
    if ckpt_value is not None:
        save_checkpoint(os.path.join(run_dir, "last.ckpt"), ckpt_value)


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A teacher and a student distilled from it, under tmp_path/out (paths relative to tmp_path, as the demo's
    configs name them relative to the repository)."""
    monkeypatch.chdir(tmp_path)
    finished_run("out/teacher", ckpt_value=1.0)
    finished_run("out/seed1/student", teacher="out/teacher/last.ckpt", ckpt_value=2.0)
    return tmp_path


def test_fingerprint_reads_the_weights_only(tmp_path):
    save_checkpoint(tmp_path / "a.ckpt", 1.0, epoch=3)
    save_checkpoint(tmp_path / "b.ckpt", 1.0, epoch=7)
    save_checkpoint(tmp_path / "c.ckpt", 1.5)
    assert weights_fingerprint(tmp_path / "a.ckpt") == weights_fingerprint(tmp_path / "b.ckpt")
    assert weights_fingerprint(tmp_path / "a.ckpt") != weights_fingerprint(tmp_path / "c.ckpt")


def test_archive_keeps_results_and_fingerprints_and_only_teachers_weights(runs):
    assert archive_runs("out", "archive") == ["seed1/student", "teacher"]
    student = runs / "archive" / "seed1" / "student"
    assert sorted(os.listdir(student)) == ["archive.json", "config.py", "logs", "metrics.json", "train_summary.json"]
    kept = torch.load(runs / "archive" / "teacher" / "weights.pt", weights_only=True)
    assert list(kept) == ["state_dict"]  # no optimizer state or loop counters
    assert weights_fingerprint(runs / "archive" / "teacher" / "weights.pt") == weights_fingerprint("out/teacher/last.ckpt")
    assert (student / "logs" / "version_0" / "metrics.csv").read_text() == "step,train/loss\n0,1.0\n"
    record = json.loads((student / "archive.json").read_text())
    teacher = json.loads((runs / "archive" / "teacher" / "archive.json").read_text())
    assert record["teacher"] == "out/teacher/last.ckpt"
    assert record["teacher_weights"] == teacher["weights"] == weights_fingerprint("out/teacher/last.ckpt")
    assert record["weights"] == weights_fingerprint("out/seed1/student/last.ckpt")


def test_restore_puts_students_back_beside_the_same_teacher_only(runs):
    archive_runs("out", "archive")
    finished_run("new/teacher", ckpt_value=1.0)  # the teacher retrained: the same weights
    restored, skipped = restore_runs("archive", "new")
    assert restored == ["seed1/student"]
    assert skipped == {"teacher": "already there"}
    assert json.loads((runs / "new" / "seed1" / "student" / "metrics.json").read_text()) == {"mIoU": 12.5}


def test_restore_puts_the_teacher_back_first_then_its_students(runs):
    archive_runs("out", "archive")
    os.rename("out", "lost")  # a new machine: nothing under out
    restored, skipped = restore_runs("archive", "out")
    assert restored == ["teacher", "seed1/student"] and skipped == {}
    assert weights_fingerprint("out/teacher/last.ckpt") == weights_fingerprint("lost/teacher/last.ckpt")
    assert not os.path.exists("out/teacher/weights.pt")


def test_restore_refuses_another_teacher_and_leaves_teachers_without_weights(runs):
    archive_runs("out", "archive")
    os.remove("archive/teacher/weights.pt")  # archived before teachers kept their weights
    save_checkpoint("out/teacher/last.ckpt", 3.0)  # the teacher at the student's path now has other weights
    restored, skipped = restore_runs("archive", "new")
    assert restored == []
    assert "other weights" in skipped["seed1/student"]
    assert skipped["teacher"].startswith("other runs are built on it and it was archived without its weights: retrain it")
    os.remove("out/teacher/last.ckpt")
    assert "missing: train it first" in restore_runs("archive", "new")[1]["seed1/student"]


def test_a_run_started_from_another_needs_that_checkpoint_as_archived(runs):
    """The OV detectors start from the base-class RPN (``load_from``): it is archived with its weights like a
    teacher, and a detector comes back only beside the same RPN."""
    finished_run("out/rpn", ckpt_value=5.0)
    finished_run("out/seed1/detector", load_from="out/rpn/last.ckpt", ckpt_value=6.0)
    archive_runs("out", "archive")
    record = json.loads((runs / "archive" / "seed1" / "detector" / "archive.json").read_text())
    assert record["load_from"] == "out/rpn/last.ckpt"
    assert record["load_from_weights"] == weights_fingerprint("out/rpn/last.ckpt")
    assert (runs / "archive" / "rpn" / "weights.pt").is_file()
    assert not (runs / "archive" / "seed1" / "detector" / "weights.pt").exists()
    os.rename("out", "lost")
    restored, skipped = restore_runs("archive", "out")
    assert set(restored[:2]) == {"rpn", "teacher"} and set(restored[2:]) == {"seed1/student", "seed1/detector"}
    shutil.rmtree("out/seed1/detector")
    save_checkpoint("out/rpn/last.ckpt", 7.0)  # an RPN retrained differently
    assert "the checkpoint it started from (load_from) out/rpn/last.ckpt has other weights" in \
        restore_runs("archive", "out")[1]["seed1/detector"]


def test_a_teacher_keeps_its_weights_before_any_student_has_finished(runs):
    """A stay may end before a student finishes: the teacher is kept when a run still training names it (its config
    is written first), or when runs already archived did."""
    shutil.rmtree("out/seed1/student")
    os.makedirs("out/seed2/student")
    with open("out/seed2/student/config.py", "w") as f:
        f.write("teacher = dict(checkpoint='out/teacher/last.ckpt')\n")
    assert archive_runs("out", "archive") == ["teacher"]
    assert (runs / "archive" / "teacher" / "weights.pt").is_file()
    shutil.rmtree("out/seed2")
    os.remove("archive/teacher/weights.pt")
    finished_run("archive/seed1/student", teacher="out/teacher/last.ckpt")  # an archived run names it
    with open("archive/seed1/student/archive.json", "w") as f:
        json.dump({"teacher": "out/teacher/last.ckpt"}, f)
    archive_runs("out", "archive")
    assert (runs / "archive" / "teacher" / "weights.pt").is_file()


def test_saving_again_keeps_the_records_of_runs_already_archived(runs):
    archive_runs("out", "archive")
    student = runs / "archive" / "seed1" / "student" / "archive.json"
    first = json.loads(student.read_text())
    os.rename("out", "lost")
    restore_runs("archive", "out")  # a student comes back without its checkpoint
    archive_runs("out", "archive")
    assert json.loads(student.read_text()) == first  # not weights=None, not a new commit
    with open("out/seed1/student/metrics.json", "w") as f:
        json.dump({"mIoU": 13.0}, f)  # tested again: archived again
    archive_runs("out", "archive")
    assert json.loads((runs / "archive" / "seed1" / "student" / "metrics.json").read_text()) == {"mIoU": 13.0}


def test_weights_kept_on_request_and_a_run_not_there_is_named(runs):
    assert archive_runs("out", "archive", keep_weights=["seed1/student"]) == ["seed1/student", "teacher"]
    assert (runs / "archive" / "seed1" / "student" / "weights.pt").is_file()
    archive_runs("out", "archive")  # saved again without asking: still kept
    assert (runs / "archive" / "seed1" / "student" / "weights.pt").is_file()
    with pytest.raises(InvalidValue, match=r"--weights seed9/student: no finished run there under out \(finished: "
                                           r"seed1/student, teacher\)"):
        archive_runs("out", "archive", keep_weights=["seed9/student"])


def test_files_a_run_names_come_back_with_it_and_other_contents_refuse_it(runs):
    """The OV detectors name class text embeddings made from the demo CLIP: both are kept (the CLIP on request),
    and a detector comes back only beside the same embeddings."""
    os.makedirs("out/clip")
    for name, content in (("text.safetensors", b"embeddings"), ("clip.safetensors", b"clip weights")):
        with open(f"out/clip/{name}", "wb") as f:
            f.write(content)
    finished_run("out/seed1/detector", ckpt_value=6.0)
    with open("out/seed1/detector/config.py", "a") as f:
        f.write("model = dict(vocabulary=dict(text_embeddings='out/clip/text.safetensors'))\n")
    archive_runs("out", "archive", keep_files=["clip/clip.safetensors"])
    record = json.loads((runs / "archive" / "seed1" / "detector" / "archive.json").read_text())
    assert record["inputs"] == {"out/clip/text.safetensors": file_fingerprint("out/clip/text.safetensors")}
    assert json.loads((runs / "archive" / "files.json").read_text()) == {
        "clip/clip.safetensors": file_fingerprint("out/clip/clip.safetensors"),
        "clip/text.safetensors": file_fingerprint("out/clip/text.safetensors")}
    os.rename("out", "lost")
    assert restore_files("archive", "out") == (["clip/clip.safetensors", "clip/text.safetensors"], {})
    assert "seed1/detector" in restore_runs("archive", "out")[0]
    shutil.rmtree("out/seed1/detector")
    with open("out/clip/text.safetensors", "wb") as f:
        f.write(b"embeddings of a retrained CLIP")
    assert restore_files("archive", "out")[1]["clip/text.safetensors"].startswith("there with other contents")
    assert "its input out/clip/text.safetensors differs" in restore_runs("archive", "out")[1]["seed1/detector"]
    with pytest.raises(InvalidValue, match=r"--files clip/none.pt: no such file under out"):
        archive_runs("out", "archive", keep_files=["clip/none.pt"])


def test_tool_round_trip_and_missing_folder(runs, capsys):
    archive_tool = load_tool("archive_runs").main
    archive_tool(["save", "out", "archive"])
    assert "archived 2 finished run(s)" in capsys.readouterr().out
    with pytest.raises(MissingFile, match="archive not found: nowhere"):
        archive_tool(["restore", "nowhere", "out"])
