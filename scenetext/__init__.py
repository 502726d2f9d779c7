"""scenetext: scene text recognition with NASTR and LPV."""

__version__ = "0.1.0"
