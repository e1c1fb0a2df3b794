"""Calibrating the detector for a new fabric article from defect-free cloth."""
