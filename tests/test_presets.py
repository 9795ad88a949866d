"""The presets (lstmcli.train.presets): `--preset seed` is the article's recipe, whatever the default becomes."""

from __future__ import annotations

from lstmcli.model.spec import ModelSpec
from lstmcli.train.config import from_preset
from lstmcli.train.presets import DEFAULT_PRESET, SEED_PRESET


def test_the_seed_preset_is_the_article_s_recipe_as_seed_md_states_it() -> None:
    """../shared/SEED.md: LSTM(75) on 28 x 28, Adam 1e-3, batch 50 in order through the training images,
    50,000 steps, the test set evaluated every 100 steps. Each field is written out, so that a change of the
    default preset (its batch became 250 once, and the seed preset silently followed) cannot reach it."""
    config = from_preset("seed")
    recipe = (config.batch_size, config.learning_rate, config.schedule, config.order, config.steps)
    assert recipe == (50, 1e-3, "constant", "sequential", 50_000)
    assert (config.eval_every, config.validation, config.eval_set, config.clip_norm) == (100, 0.0, "test", None)
    assert (config.model.cell, config.model.units, config.model.layers) == ("lstm", 75, 1)
    assert config.model_spec(28, 28, 10) == ModelSpec(cell="lstm", units=75, input_size=28, timesteps=28)
    assert config.total_steps(60_000) == 50_000


def test_the_seed_preset_takes_the_default_s_other_settings_but_none_of_its_schedule() -> None:
    schedule = ("batch_size", "learning_rate", "schedule", "steps", "epochs", "eval_every", "order", "validation",
                "eval_set")  # fmt: skip
    assert all(name in SEED_PRESET for name in schedule)
    assert {k: v for k, v in SEED_PRESET.items() if k not in schedule} == {
        k: v for k, v in DEFAULT_PRESET.items() if k not in schedule
    }
    assert all(SEED_PRESET[name] != DEFAULT_PRESET[name] for name in ("batch_size", "learning_rate", "schedule"))
