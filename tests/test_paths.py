"""Paths from the config: relative to where the user launched, and augsweep's cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.conf import HydraConf
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from augsweep.paths import launch_dir, resolve_path, user_cache_dir


@pytest.fixture
def hydra_job_in():
    """Sets Hydra's runtime config as a job sees it, launched from the folder given."""

    def start(launched_from: Path) -> None:
        hydra = OmegaConf.structured(HydraConf)
        hydra.runtime.cwd = str(launched_from)
        cfg = OmegaConf.create({"hydra": hydra})
        HydraConfig.instance().set_config(cfg)

    yield start
    HydraConfig.instance().cfg = None


def test_a_relative_path_is_taken_against_the_given_base_dir(tmp_path):
    assert resolve_path("data/photos", tmp_path) == tmp_path / "data" / "photos"


def test_an_absolute_path_ignores_the_base_dir(tmp_path):
    assert resolve_path(tmp_path / "photos", Path("/elsewhere")) == tmp_path / "photos"


def test_a_home_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_path("~/photos", Path("/elsewhere")) == tmp_path / "home" / "photos"


def test_without_hydra_a_relative_path_is_taken_against_the_working_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert launch_dir() == tmp_path
    assert resolve_path("photos") == tmp_path / "photos"


def test_in_a_hydra_job_a_relative_path_is_taken_against_the_launch_directory(
    tmp_path, monkeypatch, hydra_job_in
):
    # hydra.job.chdir=true: the job runs in its output folder, the user launched elsewhere.
    job_dir = tmp_path / "outputs" / "job0"
    job_dir.mkdir(parents=True)
    monkeypatch.chdir(job_dir)
    hydra_job_in(tmp_path / "launch")
    assert launch_dir() == tmp_path / "launch"
    assert resolve_path("photos") == tmp_path / "launch" / "photos"


def test_the_cache_folder_is_augsweep_cache_dir_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("AUGSWEEP_CACHE_DIR", "~/my-cache")
    assert user_cache_dir() == tmp_path / "home" / "my-cache"


def test_the_cache_folder_follows_xdg_cache_home_then_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AUGSWEEP_CACHE_DIR", "")  # set but empty: not a folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "augsweep"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "augsweep"


def test_the_cache_folder_is_not_created_by_asking_for_it(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGSWEEP_CACHE_DIR", str(tmp_path / "cache"))
    user_cache_dir()
    assert not (tmp_path / "cache").exists()
