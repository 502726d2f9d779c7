"""Recognition models (NASTR, LPV, autoregressive baseline) and their encoders."""
