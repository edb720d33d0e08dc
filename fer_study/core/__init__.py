"""Foundations: constants, paths, file writing, metrics, schemas and the device rule. Imports nothing else of
fer_study; every other layer builds on it."""
