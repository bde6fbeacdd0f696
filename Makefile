# densekd: `make demo` and `make test` each set everything up on a fresh machine.
PY := .venv/bin/python
export PYTHONUNBUFFERED := 1

.PHONY: install demo test bench clean-demo

install:  ## create .venv (torch, mmcv built once into ~/.cache/densekd, mmdet, lightning, ...)
	bash tools/install_env.sh

demo: install  ## make the demo data, train teachers / students / distilled students (detection, segmentation, 3D, OV), print the tables
	$(PY) tools/demo.py

test: install  ## the test suite
	$(PY) -m pytest -q tests

bench: install  ## benchmarks; results are recorded in bench/RESULTS.md
	$(PY) bench/kd_overhead.py
	$(PY) bench/acam_attention.py
	$(PY) bench/det3d_step.py
	$(PY) bench/pointdistiller_step.py

clean-demo:
	rm -rf data/shapes data/cityscapes_synthetic work_dirs/demo work_dirs/faster_rcnn_*_shapes work_dirs/deeplabv3_*_streets \
		data/kitti_synthetic work_dirs/*_lidar
