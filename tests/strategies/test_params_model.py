"""Theme parameters are checked by a pydantic model built from the theme's `params` and `param_bounds`."""

from __future__ import annotations

import math

import pytest

from backtest.errors import ConfigError, StrategyError
from strategies.base import Theme


class Probe(Theme):
    params = {"holding_sessions": 60, "weight": 0.5, "hedge": False, "label": "a", "basket": ("1631",),
              "copy": 1, "anything": None}
    param_bounds = {"holding_sessions": (1, 2500), "weight": (0.0, 1.0)}


def _error(given) -> str:
    with pytest.raises(ConfigError) as exc:
        Probe.validate_params(given, file="probe.yaml")
    return str(exc.value)


def test_the_model_has_one_field_per_default_with_its_type_and_bounds():
    schema = Probe.params_model().model_json_schema(by_alias=True)
    props = schema["properties"]
    assert list(props) == list(Probe.params)
    assert props["holding_sessions"]["type"] == "integer"
    assert (props["holding_sessions"]["minimum"], props["holding_sessions"]["maximum"]) == (1, 2500)
    assert props["weight"]["type"] == "number" and props["weight"]["maximum"] == 1.0
    assert props["hedge"]["type"] == "boolean" and props["label"]["type"] == "string"
    assert schema["additionalProperties"] is False


def test_built_once_per_class_and_rebuilt_when_the_class_changes(monkeypatch):
    model = Probe.params_model()
    assert Probe.params_model() is model

    class Child(Probe):
        params = {"extra": 3}

    assert Child.params_model() is not model and "extra" in Child.params_model().model_json_schema(by_alias=True)[
        "properties"]
    monkeypatch.setattr(Probe, "param_bounds", {"holding_sessions": (1, 10)})
    assert Probe.params_model() is not model
    assert "expected a value from 1 to 10, got 20" in _error({"holding_sessions": 20})


def test_values_are_merged_over_the_defaults_as_their_types():
    out = Probe.validate_params({"weight": 1, "label": 7, "basket": [1306, "1631"], "anything": {"x": 1}})
    assert out["weight"] == 1.0 and isinstance(out["weight"], float)
    assert out["label"] == "7"
    assert out["basket"] == ("1306", "1631")
    assert out["anything"] == {"x": 1}
    assert out["holding_sessions"] == 60 and list(out) == list(Probe.params)
    assert Probe.validate_params({"basket": "1631"})["basket"] == ("1631",)
    assert Probe.validate_params({"copy": 2})["copy"] == 2  # any name, even one of BaseModel's own


@pytest.mark.parametrize("given, message", [
    ({"holding_session": 5}, "probe.yaml: params.holding_session: unknown parameter. Did you mean 'holding_sessions'?"),
    ({"holding_sessions": "soon"}, "probe.yaml: params.holding_sessions: expected a whole number, got 'soon'. "
                                   "Write an integer such as 60."),
    ({"holding_sessions": 60.0}, "params.holding_sessions: expected a whole number, got 60.0"),
    ({"holding_sessions": True}, "params.holding_sessions: expected a whole number, got True"),
    ({"holding_sessions": 0}, "params.holding_sessions: expected a value from 1 to 2500, got 0. "
                              "Choose a value in [1, 2500]."),
    ({"weight": math.nan}, "params.weight: expected a number, got nan. Write a number such as 0.2."),
    ({"weight": True}, "params.weight: expected a number, got True"),
    ({"weight": 1.5}, "params.weight: expected a value from 0.0 to 1.0, got 1.5"),
    ({"hedge": 1}, "params.hedge: expected true or false, got 1. Write true or false."),
    ({"label": True}, "params.label: expected text, got True. Write a quoted string."),
    ({"basket": ["1631", True]}, "params.basket: expected a list of names or tickers, got ['1631', True]"),
    ({"basket": {"a": 1}}, "params.basket: expected a list of names or tickers"),
    ({"basket": ["1631", 1631]}, "params.basket: expected a list without repeats, got ['1631', 1631]. "
                                 "Remove the duplicated entries."),
])
def test_each_bad_value_is_one_config_error_naming_file_field_and_fix(given, message):
    assert message in _error(given)


def test_the_first_bad_parameter_in_the_config_is_the_one_named():
    assert "params.weight:" in _error({"weight": "x", "holding_sessions": "y"})
    assert "params.zzz:" in _error({"zzz": 1, "weight": "x"})


def test_an_unsupported_default_type_is_the_theme_s_error_only_when_given():
    class Odd(Theme):
        params = {"table": {"a": 1}, "n": 1}

    assert Odd.validate_params({"n": 2})["table"] == {"a": 1}
    with pytest.raises(StrategyError, match="params.table: parameter default of type dict is not supported"):
        Odd.validate_params({"table": {"b": 2}})
