"""Training a run: the configuration, the compiled step, the checkpoint, the loop and the run around it."""
