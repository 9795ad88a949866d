"""The command line: option parsing (app), rendering (render, explain) and live progress (progress).

Nothing here decides policy; each command parses its options, makes one library call and renders.
"""

from lstmcli.cli.app import app, main

__all__ = ["app", "main"]
