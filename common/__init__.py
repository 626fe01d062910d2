"""Neutral building blocks shared by gateway/, compliance/ and simulator/: the HTTP shell,
the config loader, logging setup, group commit. Nothing here imports any of them."""
