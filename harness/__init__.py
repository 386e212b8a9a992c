"""Evaluation and regression harness for realtime voice agents."""

__version__ = "0.1.0"
