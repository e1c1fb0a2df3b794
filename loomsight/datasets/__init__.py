"""Datasets: synthetic fabric, format importers, tiling, splitting and checking (YOLO format)."""
