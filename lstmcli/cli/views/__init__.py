"""One view module per command: how its typed result looks as a table, Markdown, CSV or JSON.

The library returns the result models of lstmcli.schemas; a view only reads them. `output` holds the
writers every view shares (the one JSON writer, CSV, wide tables); numbers and bytes are spelled by
lstmcli.formatting.
"""
