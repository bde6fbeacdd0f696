import subprocess
import sys

# A fresh process: pkg_resources' working set goes wrong only while it is first being filled, which two lanes of
# the demo runner did at once (every later config read in that process then failed).
TWO_THREADS_READ_CONFIGS = """
import threading
from densekd.core.config import load_config
errors = []
def read(path):
    try:
        load_config(path)
    except Exception as err:
        errors.append(repr(err))
threads = [threading.Thread(target=read, args=(path,)) for path in
           ("configs/demo/deeplabv3_teacher_streets.py", "configs/demo/deeplabv3_student_streets.py")]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(errors)
"""


def test_configs_read_from_two_threads_at_once_both_load():
    for _ in range(2):  # without the lock this failed 3 times in 3
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", TWO_THREADS_READ_CONFIGS],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == "[]"
