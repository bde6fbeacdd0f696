"""Wing 2: semantic segmentation — ACAM-KD on mmseg models (and on mmdet FPN detectors)."""
