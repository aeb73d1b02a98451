"""A search over augmentation policies on Optuna (``hydra/sweeper=search``): the study's
storage and name, the space of ``search.space``, a trial's policy as overrides and as a
name, and the report of a job's epochs to its trial (pruning).

The sweeper (``hydra_plugins.augsweep_search``) asks the study for trials and tells it their
results; each trial's job, in whatever process or machine its launcher puts it, loads the
same study from the shared storage, finds its trial again by number and reports its
validation accuracy after every epoch (:func:`epoch_reporter`), so that the pruner can stop
it. Optuna is imported inside functions: the command line loads this module before it
knows that a search runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOURNAL_FILE = "optuna.journal"
OBJECTIVES = {"accuracy": ("maximize",), "gap": ("minimize",), "both": ("maximize", "minimize")}
PRUNERS = ("median", "halving", "none")
# What a trial's job reports each epoch, per single objective (Keras's logs key).
REPORTED = {"accuracy": "val_accuracy", "gap": "gap"}
SPACE_LISTS = ("use", "always")
NOT_KNOBS = ("name", "use", "layers", "placement", "backend", "techniques", "affine_flip")
SET_BY_SWEEPER = ("search.trial", "search.role", "search.label", "search.storage")
SEARCH_SWEEPER = "hydra_plugins.augsweep_launchers.search_sweeper.SearchSweeper"


def storage_url(storage: str | None, sweep_dir: Path) -> str:
    """``search.storage``, or the journal file in the sweep folder when it is null."""
    return str(storage) if storage else str(Path(sweep_dir).absolute() / JOURNAL_FILE)


def study_name(sweep_key: str) -> str:
    """The study of a search, keyed by the search's key (a relaunch finds it again)."""
    return f"augsweep-{sweep_key}"


def open_storage(url: str):
    """An Optuna storage: a database URL (``sqlite:///``, ``postgresql://``), else a journal
    file (one line per change, locked per write: any number of processes and nodes that
    share the folder)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if "://" in url:
        return optuna.storages.RDBStorage(url)
    Path(url).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(url))


def pruner(search):
    """The pruner of ``search.pruner`` (none in the two-objective mode: Optuna prunes only
    single-objective studies)."""
    import optuna

    if search.pruner == "none" or search.objective == "both":
        return optuna.pruners.NopPruner()
    if search.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, search.warmup_epochs))
    return optuna.pruners.MedianPruner(
        n_startup_trials=search.startup_trials, n_warmup_steps=search.warmup_epochs
    )


def load_study(search, sweep_key: str, url: str, create: bool = False):
    """The search's study (created when ``create``)."""
    import optuna

    storage = open_storage(url)
    name = study_name(sweep_key)
    if create:
        return optuna.create_study(
            study_name=name,
            storage=storage,
            directions=list(OBJECTIVES[search.objective]),
            pruner=pruner(search),
            sampler=optuna.samplers.TPESampler(n_startup_trials=search.startup_trials),
            load_if_exists=True,
        )
    return optuna.load_study(study_name=name, storage=storage, pruner=pruner(search))


def epoch_reporter(search, sweep_key: str) -> Callable[[int, Mapping[str, float]], bool]:
    """For a trial's job: report an epoch's value to the trial; True when it should stop.

    Args:
        search: The job's ``search`` config (its ``trial`` and ``storage`` set by the sweeper).
        sweep_key: The search's key (its study).
    """
    import optuna

    study = load_study(search, sweep_key, str(search.storage))
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(  # no public lookup
        study._study_id, int(search.trial)
    )
    trial = optuna.trial.Trial(study, trial_id)
    key = REPORTED.get(search.objective)

    def report(epoch: int, logs: Mapping[str, float]) -> bool:
        if key is None or logs.get(key) is None:
            return False
        trial.report(float(logs[key]), step=epoch + 1)
        return trial.should_prune()

    return report


@dataclass
class Dimension:
    """One searched value: its name and how Optuna draws it.

    Attributes:
        name: ``use.flip`` (a technique on or off) or a knob of ``augment`` (``rotation``).
        kind: ``bool``, ``choice``, ``float``, ``int`` or ``fixed``.
        values: The choices (``choice``), ``(low, high, step, log)`` (``float``/``int``), or
            the value (``fixed``).
        technique: The technique it belongs to: drawn only when that technique is on.
    """

    name: str
    kind: str
    values: Any
    technique: str


@dataclass
class Space:
    """The search space: techniques on or off, those always on, their magnitudes."""

    use: list[str] = field(default_factory=list)
    always: list[str] = field(default_factory=list)
    knobs: list[Dimension] = field(default_factory=list)


def parse_space(space: Mapping[str, Any], swept: Mapping[str, str], knobs: Sequence[str]):
    """The :class:`Space` of ``search.space`` and the command line's swept entries.

    Args:
        space: ``search.space`` as composed (values as Hydra writes them: ``interval(0,0.3)``).
        swept: The command line's ``search.space.<knob>=<sweep>`` (Hydra leaves them out of
            the composed config), knob -> text.
        knobs: The knobs of ``augment`` that may be searched.

    Raises:
        ValueError: A knob that ``augment`` has not, or a value that is no sweep.
    """
    entries = {**{k: v for k, v in space.items()}, **swept}
    found = Space(
        use=[str(t) for t in entries.get("use") or []],
        always=[str(t) for t in entries.get("always") or []],
    )
    on = {*found.use, *found.always}
    for name, value in entries.items():
        if name in SPACE_LISTS:
            continue
        if name not in knobs:
            raise ValueError(
                f"search.space.{name}: not a knob of augment; use one of {', '.join(knobs)}"
            )
        technique = _technique_of(name, on)
        if technique is not None:  # else a knob of a technique this space never uses
            found.knobs.append(_dimension(name, value, technique))
    return found


def _technique_of(knob: str, techniques) -> str | None:
    """The technique a knob belongs to: its own name, or ``<technique>_...``."""
    for technique in sorted(techniques, key=len, reverse=True):
        if knob == technique or knob.startswith(f"{technique}_"):
            return technique
    return None


def _dimension(name: str, value: Any, technique: str) -> Dimension:
    """A knob's value, read as Hydra reads an override's (``choice``/``interval``/``range``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    parsed = OverridesParser.create().parse_override(f"{name}={value}").value()
    if isinstance(parsed, ChoiceSweep):
        return Dimension(name, "choice", list(parsed.list), technique)
    if isinstance(parsed, IntervalSweep):
        log = "log" in (parsed.tags or set())
        integer = isinstance(parsed.start, int) and isinstance(parsed.end, int)
        kind = "int" if integer else "float"
        step = None if log or integer else 0.01
        return Dimension(name, kind, (parsed.start, parsed.end, step, log), technique)
    if isinstance(parsed, RangeSweep):
        values = list(OverridesParser.create().parse_override(f"{name}={value}").sweep_iterator())
        return Dimension(name, "choice", values, technique)
    return Dimension(name, "fixed", parsed, technique)


def suggest(trial, space: Space) -> dict[str, Any]:
    """Draw a policy: each technique of ``use`` on or off, then the magnitudes of those on."""
    on = list(space.always)
    for technique in space.use:
        if trial.suggest_categorical(f"use.{technique}", [False, True]):
            on.append(technique)
    chosen: dict[str, Any] = {"use": on}
    for dim in space.knobs:
        if dim.technique not in on:
            continue
        chosen[dim.name] = draw(trial, dim)
    return chosen


def draw(trial, dim: Dimension):
    """One knob's value from the trial."""
    if dim.kind == "choice":
        return trial.suggest_categorical(dim.name, dim.values)
    if dim.kind == "fixed":
        return dim.values
    low, high, step, log = dim.values
    if dim.kind == "int":
        return trial.suggest_int(dim.name, low, high, log=log)
    return round(trial.suggest_float(dim.name, low, high, step=step, log=log), 6)


def policy_from_params(params: Mapping[str, Any], space: Space) -> dict[str, Any]:
    """A trial's policy from its stored params (a relaunch resumes a trial by them)."""
    on = list(space.always) + [t for t in space.use if params.get(f"use.{t}")]
    chosen: dict[str, Any] = {"use": on}
    for dim in space.knobs:
        if dim.name in params:
            value = params[dim.name]
            chosen[dim.name] = round(value, 6) if isinstance(value, float) else value
        elif dim.kind == "fixed" and dim.technique in on:
            chosen[dim.name] = dim.values
    return chosen


def label(policy: Mapping[str, Any]) -> str:
    """A policy's name: ``flip+rotation(0.12)+erasing(0.30)``, ``randaugment(0.50,ops=2)``;
    ``none`` when nothing is on."""
    parts = []
    for technique in policy["use"]:
        own = [f"{_fmt(policy[technique])}"] if technique in policy else []
        own += [
            f"{k.removeprefix(technique + '_')}={_fmt(v)}"
            for k, v in policy.items()
            if k.startswith(f"{technique}_")
        ]
        parts.append(f"{technique}({','.join(own)})" if own else technique)
    on = set(policy["use"])
    extra = [
        f"{k}={_fmt(v)}" for k, v in policy.items() if k != "use" and _technique_of(k, on) is None
    ]
    return "+".join(parts + extra) or "none"


def _fmt(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def overrides(policy: Mapping[str, Any]) -> list[str]:
    """The Hydra overrides of a policy: ``augment=compose``, its techniques, its knobs and
    its name (quoted: a name holds parentheses)."""
    items = ["augment=compose", f"augment.use=[{','.join(policy['use'])}]"]
    items += [f"augment.{k}={v}" for k, v in policy.items() if k != "use"]
    return [*items, f"augment.name='{label(policy)}'"]


def check_or_exit(config):
    """:func:`check` for the command line: one message and exit 2 when it fails."""
    import sys

    try:
        return check(config, list(config.hydra.overrides.task))
    except ValueError as error:
        print(f"augsweep: invalid search: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def check(config, overrides: Sequence[str]):
    """The search's settings and space checked, before anything runs.

    Returns:
        The :class:`~augsweep.search.Space`, and the overrides every job gets.

    Raises:
        ValueError: One line naming each bad value and what is allowed.
    """
    from dataclasses import fields

    from hydra.core.override_parser.overrides_parser import OverridesParser

    from augsweep.config.schema import AugmentConfig

    cfg = config.search
    problems = []
    if cfg.objective not in OBJECTIVES:
        problems.append(f"search.objective={cfg.objective}: use one of "
                        f"{', '.join(OBJECTIVES)}")  # fmt: skip
    if cfg.pruner not in PRUNERS:
        problems.append(f"search.pruner={cfg.pruner}: use one of {', '.join(PRUNERS)}")
    for name, low in (("trials", 1), ("top_k", 0), ("confirm_seeds", 2)):
        if cfg[name] < low:
            problems.append(f"search.{name}={cfg[name]}: must be >= {low}")
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    swept, passed = {}, []
    for override, text in zip(parsed, overrides, strict=True):
        key = override.get_key_element()
        if key.startswith("search.space.") and override.is_sweep_override():
            swept[key.removeprefix("search.space.")] = text.partition("=")[2]
        elif override.is_sweep_override():
            problems.append(
                f"{text}: a search sweeps only search.space.*; "
                "sweep the policy with search.space.<knob>='interval(a,b)'"
            )
        elif key not in SET_BY_SWEEPER:
            passed.append(text)
    knobs = [f.name for f in fields(AugmentConfig) if f.name not in NOT_KNOBS]
    try:
        space = parse_space(dict(cfg.space), swept, knobs)
    except ValueError as error:
        problems.append(str(error))
        space = None
    catalogue = set(config.augment.techniques.get(config.augment.backend) or {})
    unknown = [t for t in (space.use + space.always if space else []) if t not in catalogue]
    if unknown:
        problems.append(f"search.space.use: unknown technique(s) {', '.join(unknown)}; use "
                        f"those of the catalogue: {', '.join(sorted(catalogue))}")  # fmt: skip
    if problems:
        raise ValueError("\n  ".join(["", *problems]) if len(problems) > 1 else problems[0])
    return space, passed
