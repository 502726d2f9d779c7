"""HTTP recognition service: `create_app(recognizer, settings)` builds the app behind `scenetext serve`.

The API (``POST /v1/recognize``, ``GET /v1/models``, ``GET /health``), dynamic batching across concurrent
requests (:mod:`scenetext.serve.batcher`), request limits, and the web page at ``/`` (``static/``).
"""

from scenetext.serve.app import create_app
from scenetext.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
