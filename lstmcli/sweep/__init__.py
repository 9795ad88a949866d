"""`lstmcli sweep`: many runs of one experiment on Optuna, from one machine to many.

space (the search space, pure), study (Optuna's storage, study, sampler, pruner and queue), worker (one trial
as an ordinary run folder), results (what `sweep show` reports), launch (run, show and list as library calls).
The choices below are plain data, so `lstmcli --help` lists them without importing Optuna or pydantic.
"""

SEARCHES = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "hyperband")
DEFAULT_TRIALS = 20  # configurations a random or TPE search tries when --trials is not given
DEFAULT_HEARTBEAT = 20  # seconds between a running trial's heartbeats
