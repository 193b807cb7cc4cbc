"""Tracking settings, URI checks and config flattening: no MLflow, no TensorFlow."""

from __future__ import annotations

import pytest

from mmarctl.errors import UsageError
from mmarctl.tracking.params import MAX_KEY, MAX_VALUE, config_hash, config_params
from mmarctl.tracking.settings import check_cli_options, resolve_settings, uri_problem


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "https://mlflow.example.org",
                                 "sqlite:////tmp/x.db", "postgresql+psycopg://u@db/mlflow",
                                 "file:///tmp/mlruns", "databricks"])
def test_uris_that_parse(uri):
    assert uri_problem(uri, {"MLFLOW_ALLOW_FILE_STORE": "true"}) is None


def test_the_folder_store_is_refused_up_front_unless_mlflow_is_told_to_allow_it():
    problem = uri_problem("file:///tmp/mlruns", {})
    assert problem == ("MLflow 3 refuses the folder store (file:); use "
                       "sqlite:///PATH/mlflow.db, or set MLFLOW_ALLOW_FILE_STORE=true")
    with pytest.raises(UsageError, match="refuses the folder store"):
        check_cli_options(None, "file:///tmp/mlruns")
    assert uri_problem("file:///tmp/mlruns", {"MLFLOW_ALLOW_FILE_STORE": "True"}) is None


@pytest.mark.parametrize("uri,problem", [
    ("htp://x", "unknown scheme 'htp'"), ("http://", "no host"), ("", "it is empty"),
    ("http://host:99999", "out of range"), ("sqlite://x.db", "sqlite:///PATH"),
    ("just words", "no scheme"), ("http://[::1", "Invalid IPv6 URL"),
])
def test_uris_that_do_not_parse(uri, problem):
    assert problem in uri_problem(uri)


def test_cli_options_are_usage_errors():
    with pytest.raises(UsageError, match="--tracking must be mlflow or none"):
        check_cli_options("yes", None)
    with pytest.raises(UsageError, match="--tracking-uri 'htp://x' does not parse"):
        check_cli_options(None, "htp://x")
    check_cli_options("mlflow", "http://127.0.0.1:5000")


def test_off_by_default_and_the_order_of_sources(tmp_path):
    root = tmp_path / "exp"
    root.mkdir()
    assert not resolve_settings(root, environ={}).enabled
    embedded = resolve_settings(root, mode="mlflow", environ={})
    assert embedded.enabled and embedded.source == "embedded"
    assert embedded.uri == f"sqlite:///{root.resolve()}/mlruns.db"
    assert embedded.artifact_location == (root.resolve() / "mlartifacts").as_uri()
    assert embedded.experiment_name == "exp"
    env = {"MLFLOW_TRACKING_URI": "http://env:1"}
    config = {"MLFLOW_TRACKING_URI": "http://config:2", "tracking_experiment": "spleen"}
    assert resolve_settings(root, environ=env).uri == "http://env:1"
    assert resolve_settings(root, uri="http://cli:3", environ=env).uri == "http://cli:3"
    assert resolve_settings(root, mode="none", uri="http://cli:3", environ=env).enabled is False
    from_config = resolve_settings(root, variables=config, environ={})
    assert (from_config.uri, from_config.source, from_config.experiment_name) == \
        ("http://config:2", "config", "spleen")
    assert not resolve_settings(root, variables={**config, "tracking": "none"}, environ={}).enabled
    assert resolve_settings(root, variables={"tracking": "mlflow"}, environ={}).source == "embedded"


def test_a_bad_uri_from_the_environment_turns_tracking_off_with_a_reason(tmp_path):
    settings = resolve_settings(tmp_path, environ={"MLFLOW_TRACKING_URI": "htp://x"})
    assert not settings.enabled
    assert settings.problem == ("tracking URI 'htp://x' (MLFLOW_TRACKING_URI) does not parse: "
                                "unknown scheme 'htp'")


def test_automl_trial_environment_nests_the_run(tmp_path):
    env = {"MLFLOW_TRACKING_URI": "http://h:1", "MMARCTL_TRACKING_PARENT_RUN_ID": "abc",
           "MLFLOW_EXPERIMENT_ID": "7",
           "MMARCTL_TRACKING_TRIAL": '{"study": "s", "trial": 1, "values": {"lr": 0.1}}'}
    settings = resolve_settings(tmp_path, environ=env)
    assert (settings.parent_run_id, settings.experiment_id) == ("abc", "7")
    assert settings.trial == {"study": "s", "trial": 1, "values": {"lr": 0.1}}


def test_config_params_flatten_components_and_respect_limits():
    config = {
        "epochs": 2, "learning_rate": 1e-4, "search": [{"type": "float"}],
        "train": {"loss": {"name": "Dice", "args": {"squared_pred": True}},
                  "pre_transforms": [{"name": "LoadNifti", "args": {"fields": ["image"]}},
                                     {"name": "ScaleIntensityRange",
                                      "args": {"a_min": -57, "a_max": 164}}]},
        "x" * 300: 1, "long": "v" * 7000, "bad[key]": "ok",
    }
    params = config_params(config)
    assert params["epochs"] == "2" and params["learning_rate"] == "0.0001"
    assert params["train.loss.name"] == "Dice"
    assert params["train.loss.args.squared_pred"] == "true"
    assert params["train.pre_transforms.0.args.fields"] == '["image"]'
    assert params["train.pre_transforms.1.args.a_max"] == "164"
    assert not any(key.startswith("search") for key in params)
    assert all(len(key) <= MAX_KEY for key in params)
    assert len(params["long"]) == MAX_VALUE and params["long"].endswith("...")
    assert params["bad_key_"] == "ok"
    assert config_hash(config) == config_hash(dict(reversed(list(config.items()))))
    assert config_hash(config) != config_hash({**config, "epochs": 3})
