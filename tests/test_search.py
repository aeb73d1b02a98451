"""The search's space, policies and names (``augsweep.search``), without training."""

from __future__ import annotations

import optuna
import pytest

from augsweep.search import label, overrides, parse_space, policy_from_params, suggest

KNOBS = ["rotation", "zoom", "erasing", "flip_mode", "randaugment", "randaugment_ops"]


def test_a_policy_is_named_by_its_techniques_and_magnitudes():
    policy = {"use": ["flip", "rotation", "erasing"], "rotation": 0.12, "erasing": 0.3}
    assert label(policy) == "flip+rotation(0.12)+erasing(0.30)"
    assert label({"use": ["randaugment"], "randaugment": 0.5, "randaugment_ops": 2}) == (
        "randaugment(0.50,ops=2)"
    )
    assert label({"use": []}) == "none"
    assert overrides(policy) == [
        "augment=compose", "augment.use=[flip,rotation,erasing]", "augment.rotation=0.12",
        "augment.erasing=0.3", "augment.name='flip+rotation(0.12)+erasing(0.30)'",
    ]  # fmt: skip


def test_the_space_reads_hydras_sweeps_and_the_command_line_wins():
    space = parse_space(
        {"use": ["flip", "rotation"], "rotation": "interval(0.02,0.3)", "zoom": "interval(0,1)"},
        {"rotation": "interval(0,0.2)"},
        KNOBS,
    )
    assert space.use == ["flip", "rotation"]
    (rotation,) = space.knobs  # zoom: its technique is not in the space
    assert (rotation.name, rotation.kind, rotation.values[:2]) == ("rotation", "float", (0, 0.2))
    ra = parse_space(
        {
            "always": ["randaugment"],
            "randaugment_ops": "choice(1,2,3)",
            "randaugment": "range(1,3)",
        },
        {},
        KNOBS,
    )
    assert [(d.name, d.kind, d.values) for d in ra.knobs] == [
        ("randaugment_ops", "choice", [1, 2, 3]), ("randaugment", "choice", [1, 2]),
    ]  # fmt: skip


def test_an_unknown_knob_is_refused_by_name():
    with pytest.raises(ValueError, match="search.space.rotaton: not a knob of augment"):
        parse_space({"use": ["rotation"], "rotaton": "interval(0,1)"}, {}, KNOBS)


def test_a_trials_policy_comes_back_from_its_stored_params():
    space = parse_space({"use": ["flip", "rotation", "erasing"], "rotation": "interval(0,0.3)",
                         "erasing": "interval(0.05,0.5)"}, {}, KNOBS)  # fmt: skip
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(8):
        trial = study.ask()
        policy = suggest(trial, space)
        assert policy_from_params(trial.params, space) == policy
        for knob in ("rotation", "erasing"):  # a magnitude only for a technique that is on
            assert (knob in policy) == (knob in policy["use"])
            if knob in policy:
                assert round(policy[knob], 2) == policy[knob]  # drawn on a 0.01 grid
