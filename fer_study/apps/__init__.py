"""Applications built on the trained models: the recognizer (``recognize``), the training sweep over many
runs (``sweep``) and the image generator for the balanced dataset (``generate``)."""
