"""Inference: the Recognizer API, ONNX export, attention visualisation, benchmarks and the demo.

``from scenetext.inference import Recognizer`` imports neither torch nor onnxruntime; each backend imports its
runtime when a model is loaded.
"""

from scenetext.inference.recognizer import RecognitionResult, Recognizer

__all__ = ["RecognitionResult", "Recognizer"]
