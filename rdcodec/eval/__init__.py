"""Measurement: image quality (quality.py), Pillow's JPEG / WebP / AVIF (baselines.py),
BD-rate (bd_rate.py) and rate–distortion curves from real files (rd_curve.py)."""
