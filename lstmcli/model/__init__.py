"""The network: its description (spec), its closed-form count (count), and the one Keras factory.

`spec` and `count` never import TensorFlow, so `lstmcli params --no-verify` and `lstmcli --help` stay fast.
"""
