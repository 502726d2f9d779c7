"""Inference: the Recognizer API, ONNX export, attention visualisation, benchmarks."""
