"""Benchmarks: scripts that print figures (``python -m fer_study.bench {train,predict,generate}``)."""
