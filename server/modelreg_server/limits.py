"""Field limits: how many params, labels, metrics and attributes a request may
carry, how long their values may be, and how large and deep an inference record's
inputs and outputs may be.

Read once at start from ``MODELREG_MAX_*`` variables into a frozen ``FieldLimits``
(``Settings.field_limits``) and handed to the objects that validate: the service
objects of app.services and, through ``InferenceService.limits``, the ingest
converter. Nothing reads them from a module global, so two servers in one process
(tests) may enforce different limits. Standard library only: domain, service and
transport all read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class FieldLimits:
    # Params of one model version, run (all its calls together), pipeline run or
    # pipeline step.
    max_params: int = 1_000
    max_param_value_chars: int = 2_400
    # Labels of one resource (project, model, version, run, dataset version,
    # evaluation, deployment, pipeline run).
    max_labels: int = 64
    max_label_value_chars: int = 256
    # Metric points of one LogRunData (or EndRun) call; metrics of one evaluation.
    max_metric_points: int = 100_000
    max_evaluation_metrics: int = 1_000
    # A metric key (LogRunData points, evaluation metrics).
    max_metric_key_chars: int = 128
    # An inference record's inputs and outputs, each: bytes as sent, and nesting
    # (the top object is level 1).
    max_inference_json_bytes: int = 1_048_576
    max_inference_json_depth: int = 32
    # An inference record's attributes (the slices production metrics group by).
    max_attributes: int = 64
    max_attribute_value_chars: int = 255


DEFAULT_LIMITS = FieldLimits()


def setting(field: str) -> str:
    """The variable that sets ``field`` (``max_labels`` -> ``MODELREG_MAX_LABELS``):
    error messages name it, so an operator knows what to raise."""
    return f"MODELREG_{field.upper()}"


# Upper bounds where the schema sets one: values that are indexed must fit a
# PostgreSQL btree entry (about 2,700 bytes), so a limit set higher would let
# through values the database refuses. Label values are indexed with their key
# (a character may take 4 bytes in UTF-8); metric keys (ASCII) with a slice of up
# to 256 characters in version_scores. Param values are indexed too: 2,400
# characters, and at most 2,400 bytes in UTF-8 whatever this says
# (service/validation.MAX_PARAM_VALUE_BYTES; 4,096 before, when a long value that
# did not compress failed in the database, INTERNAL).
CEILINGS: Mapping[str, int] = {
    "max_param_value_chars": 2_400,
    "max_label_value_chars": 512,
    "max_metric_key_chars": 1_024,
    # json.loads (the deep-document check) recurses once per level.
    "max_inference_json_depth": 500,
}


def load(env: Mapping[str, str]) -> FieldLimits:
    """The limits set in ``env`` (each a positive whole number), defaults for the others."""
    # Imported here: config imports this module for Settings' field type.
    from modelreg_server.config import ConfigError

    values: dict[str, int] = {}
    for f in fields(FieldLimits):
        name = setting(f.name)
        raw = env.get(name, "").strip()
        if not raw:
            continue
        if not (raw.isascii() and raw.isdigit()) or int(raw) <= 0:
            raise ConfigError(f"{name}: expected a positive whole number, got {raw!r}")
        value = int(raw)
        ceiling = CEILINGS.get(f.name)
        if ceiling is not None and value > ceiling:
            raise ConfigError(f"{name}: at most {ceiling}, got {raw!r}")
        values[f.name] = value
    return FieldLimits(**values)
