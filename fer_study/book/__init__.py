"""Presentation: what the chapters show (tables, figures, findings) and the build that executes the notebooks
and renders the Jupyter Book (``python -m fer_study.book``). Nothing here trains or builds a model."""
