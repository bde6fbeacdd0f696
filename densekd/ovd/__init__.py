"""Wing 1: open-vocabulary detection (OADP) — a CLIP teacher distilled into an mmdet detector."""
