"""Charsets, tokenizer, LMDB datasets, importers and image preprocessing."""
