"""Neutral building blocks shared by gateway/, compliance/ and simulator/ (no imports from them)."""
