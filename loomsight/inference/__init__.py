"""ONNX Runtime defect detector for the camera side: numpy, OpenCV and onnxruntime only."""
