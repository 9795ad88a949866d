"""lstmcli: understand and run LSTM experiments from the command line."""

__version__ = "0.1.0"
