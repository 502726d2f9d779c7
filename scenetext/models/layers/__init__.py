"""Building blocks shared by the recognition models (position encodings, attention decoders)."""
