"""Evaluation and regression harness for realtime voice agents."""

from harness.pyfixes import serialize_ast_parse

__version__ = "0.1.0"

serialize_ast_parse()
