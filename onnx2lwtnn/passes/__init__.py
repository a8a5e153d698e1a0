"""Rewrite passes, one job per module; ``pipeline.PIPELINE`` orders them."""
