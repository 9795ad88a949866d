"""Two worker processes share one Optuna study on a real PostgreSQL server: the setup `lstmcli sweep` relies on.

Separate processes (not threads) because that is how a sweep scales out: each worker has its own connection pool
and only the database coordinates them, so a trial run twice or lost would show up here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import optuna

# The session-scoped `postgres_url` fixture lives in tests/postgres_server.py (a plain module, not a conftest,
# so it can also be used as a library); registering it as a plugin avoids an import that ruff reads as unused.
pytest_plugins = ["postgres_server"]

WORKER_TIMEOUT_S = 60

# Each worker loads the study by name and runs 3 trials, tagging each with its pid; it prints the trial numbers
# it ran, so the parent can check that the two workers' trials are disjoint.
WORKER = """
import json, os, sys
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
url, name = sys.argv[1], sys.argv[2]
study = optuna.load_study(study_name=name, storage=optuna.storages.RDBStorage(url))

def objective(trial):
    trial.set_user_attr("pid", os.getpid())
    x = trial.suggest_float("x", -1.0, 1.0)
    return x * x

study.optimize(objective, n_trials=3)
print(json.dumps(sorted(t.number for t in study.trials if t.user_attrs.get("pid") == os.getpid())))
"""


def test_two_processes_share_one_study(postgres_url: str) -> None:
    storage = optuna.storages.RDBStorage(postgres_url)
    study = optuna.create_study(study_name="two-workers", storage=storage, direction="minimize")

    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, postgres_url, study.study_name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=WORKER_TIMEOUT_S)
            assert worker.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)

    trials = optuna.load_study(study_name=study.study_name, storage=storage).get_trials(deepcopy=False)
    assert len(trials) == 6
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(6))
    # Each worker ran exactly its 3 trials, and no trial belongs to both.
    assert [len(numbers) for numbers in outputs] == [3, 3]
    assert sorted(outputs[0] + outputs[1]) == list(range(6))
    assert sorted(Counter(t.user_attrs["pid"] for t in trials).values()) == [3, 3]
    assert study.best_value == min(t.value for t in trials if t.value is not None)
