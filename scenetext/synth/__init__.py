"""Synthetic word-image rendering."""
