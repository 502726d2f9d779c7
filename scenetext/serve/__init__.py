"""HTTP recognition service."""
