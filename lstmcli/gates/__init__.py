"""`lstmcli gates`: every gate of a trained recurrent classifier, step by step, recomputed in NumPy.

recurrence.py holds the equations (NumPy only, no TensorFlow); keras_model.py reads a Keras model into them
and checks them against Keras; statistics.py aggregates many samples; watch.py is the command's one call.
"""
