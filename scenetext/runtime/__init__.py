"""The torch-free layer: everything reading a shipped model needs, on numpy, Pillow, OpenCV and onnxruntime.

- :mod:`~scenetext.runtime.artifact`: the artifact format (file names, ``config.json`` reading and checks)
- :mod:`~scenetext.runtime.names`: built-in model names (``default``, ``default-zh``) to their directories
- :mod:`~scenetext.runtime.charset`: charsets and the label tokenizer
- :mod:`~scenetext.runtime.preprocess`: image decoding and model-input preprocessing
- :mod:`~scenetext.runtime.decode`: greedy decoding of probabilities, character positions
- :mod:`~scenetext.runtime.onnx_backend`: the onnxruntime backend

It imports nothing from the rest of scenetext but :mod:`scenetext.errors` (so the inference-only install,
without the ``[train]`` extra, can use it); training, the torch backend and export build on it.
"""
