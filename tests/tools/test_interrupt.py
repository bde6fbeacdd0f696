"""Ctrl-C during training loses nothing: last.ckpt holds the progress and --resume continues."""
import os
import signal
import subprocess
import sys
import threading
import time

import torch

from conftest import REPO, STUDENT_CFG, as_argv, data_options


def reset_sigint():
    """In the child before exec: SIGINT handled by default and not blocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_saves_last_checkpoint_and_resume_finishes(shapes_root, tmp_path):
    work_dir = str(tmp_path / "interrupted")
    cmd = [sys.executable, "tools/train.py", STUDENT_CFG, "--work-dir", work_dir, "--accelerator", "cpu",
           *as_argv(data_options(shapes_root, iters=10_000))]
    # The child must get Ctrl-C as from a shell. In the full suite (not alone) it once trained on
    # after SIGINT: an ignored or blocked SIGINT inherited from this process is the likely cause
    # (not pinned down: a probe found the disposition at its default), so reset both in the child.
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=reset_sigint)
    output = bytearray()
    reader = threading.Thread(target=lambda: [output.extend(chunk) for chunk in iter(lambda: proc.stdout.read(64), b"")])
    reader.start()
    deadline = time.time() + 120
    while b"| 5/10000" not in output and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)  # wait until a few iterations have run
    waited = time.time() - deadline + 120
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:  # say where the run was, not just that it hung
        proc.kill()
        reader.join()
        raise AssertionError(f"no exit within 120 s of SIGINT (sent after {waited:.0f} s); output tail:\n"
                             + output.decode(errors="replace")[-3000:]) from None
    reader.join()
    text = output.decode(errors="replace")
    assert "Continue by running the same command with --resume" in text, text[-2000:]
    saved = torch.load(os.path.join(work_dir, "last.ckpt"), map_location="cpu", weights_only=True)
    interrupted_at = saved["global_step"]
    assert 5 <= interrupted_at < 10_000

    resume = [sys.executable, "tools/train.py", STUDENT_CFG, "--work-dir", work_dir, "--accelerator", "cpu",
              "--resume", *as_argv(data_options(shapes_root, iters=interrupted_at + 2))]
    done = subprocess.run(resume, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"trained {interrupted_at + 2} iterations" in done.stdout
