"""The command line: option parsing (app), one view per command (views, explain) and live progress (progress).

Nothing here decides policy; each command parses its options, makes one library call and renders.
"""

from lstmcli.cli.app import app, main

__all__ = ["app", "main"]
