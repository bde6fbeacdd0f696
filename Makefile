# densekd: `make demo` and `make test` each set everything up on a fresh machine.
PY := .venv/bin/python
export PYTHONUNBUFFERED := 1

.PHONY: install demo demo-full test bench clean-demo

install:  ## create .venv (torch, mmcv built once into ~/.cache/densekd, mmdet, lightning, ...)
	bash tools/install_env.sh

demo: install  ## the first look: each wing's teacher / student alone / distilled student (OV: baseline / OADP), one seed, 40% of the schedules; tables + pictures
	$(PY) tools/demo.py

demo-full: install  ## the tables of docs/: every distiller tuned on the tuning split, 5 paired seeds on the report split, ablations, the detection demo and the SECOND pair, full schedules (about 22 hours on 2 cores)
	$(PY) tools/demo.py --full

test: install  ## the test suite
	$(PY) -m pytest -q tests

bench: install  ## benchmarks; results are recorded in bench/RESULTS.md
	$(PY) bench/kd_overhead.py
	$(PY) bench/acam_attention.py
	$(PY) bench/det3d_step.py
	$(PY) bench/pointdistiller_step.py

clean-demo:
	rm -rf data/shapes data/cityscapes_synthetic work_dirs/demo work_dirs/demo_full work_dirs/faster_rcnn_*_shapes work_dirs/deeplabv3_*_streets \
		data/kitti_synthetic work_dirs/*_lidar
