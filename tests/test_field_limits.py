"""Loading the field limits (limits.py) from MODELREG_* variables, and the
inference JSON depth check on its own."""

from __future__ import annotations

from dataclasses import fields

import pytest

from modelreg_server import config
from modelreg_server.limits import CEILINGS, DEFAULT_LIMITS, FieldLimits, load, setting
from modelreg_server.transport.inference_convert import json_problem, too_deep


def test_defaults_are_the_limits_before_they_were_settings() -> None:
    assert load({}) == DEFAULT_LIMITS == config.Settings().field_limits
    assert (
        FieldLimits(
            max_params=1_000,
            max_param_value_chars=2_400,
            max_labels=64,
            max_label_value_chars=256,
            max_metric_points=100_000,
            max_evaluation_metrics=1_000,
            max_metric_key_chars=128,
            max_inference_json_bytes=1_048_576,
            max_inference_json_depth=32,
            max_attributes=64,
            max_attribute_value_chars=255,
        )
        == DEFAULT_LIMITS
    )


def test_every_limit_has_its_variable() -> None:
    for f in fields(FieldLimits):
        name = setting(f.name)
        assert name == "MODELREG_" + f.name.upper()
        assert getattr(load({name: "7"}), f.name) == 7
        # config.load reads them too, beside the other settings.
        assert getattr(config.load({name: " 7 "}).field_limits, f.name) == 7


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "ten", "1e3", "0x10", "\u0663"])
def test_a_bad_value_is_refused_naming_its_variable(raw: str) -> None:
    with pytest.raises(config.ConfigError, match="MODELREG_MAX_LABELS: expected a positive"):
        load({"MODELREG_MAX_LABELS": raw})


def test_an_empty_value_means_the_default() -> None:
    assert load({"MODELREG_MAX_LABELS": ""}) == DEFAULT_LIMITS


@pytest.mark.parametrize("name", sorted(CEILINGS))
def test_indexed_values_cannot_be_allowed_past_what_the_index_holds(name: str) -> None:
    ceiling = CEILINGS[name]
    assert getattr(load({setting(name): str(ceiling)}), name) == ceiling
    with pytest.raises(config.ConfigError, match=f"{setting(name)}: at most {ceiling}"):
        load({setting(name): str(ceiling + 1)})


def _nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.mark.parametrize("depth", [1, 2, 5, 32, 33, 200])
def test_too_deep_counts_levels_from_one(depth: int) -> None:
    assert not too_deep(_nested(depth), depth)
    assert too_deep(_nested(depth + 1), depth)


def test_too_deep_ignores_brackets_in_strings_and_counts_arrays() -> None:
    assert not too_deep(b'{"a":"[[[[[[{{{{{{"}', 1)
    assert too_deep(b'{"a":[[1]]}', 2)
    assert not too_deep(b'{"a":[[1]]}', 3)


def test_what_is_not_json_is_left_to_the_json_check() -> None:
    assert not too_deep(b"[[[[[[[[[[ not json", 2)
    # Deeper than json.loads recurses: too deep whatever the limit.
    assert too_deep(b"[" * 100_000 + b"]" * 100_000, CEILINGS["max_inference_json_depth"])


def test_json_problem_names_the_setting() -> None:
    limits = FieldLimits(max_inference_json_bytes=10, max_inference_json_depth=2)
    assert json_problem(b'{"a":[1]}', limits) is None
    assert "MODELREG_MAX_INFERENCE_JSON_BYTES" in (json_problem(b'{"a":"xxxx"}', limits) or "")
    assert "MODELREG_MAX_INFERENCE_JSON_DEPTH" in (json_problem(b'{"a":[[]]}', limits) or "")
