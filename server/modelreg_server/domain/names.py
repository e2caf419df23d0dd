"""Resource names (AIP-122) and etags, in one place for every layer.

Parsing names from requests is the transport's job (transport/names.py); this
module only spells them, so an error message, a stored response and a reply name
a resource the same way."""

from __future__ import annotations

import re

# The id segments of names, checked where names are read (service/validation.py for
# requests, storage/lineage_refs.py for references to any resource).
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
VERSION_RE = re.compile(r"[0-9]+")
# Digits of the largest version number (2**63-1): a longer number is out of range
# before int() is asked to convert it (Python refuses over 4,300 digits).
MAX_VERSION_DIGITS = 19
# Dataset version ids may be dates (`2024-09-01`) or tags (`v1.2`).
DATASET_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def project_name(project: str) -> str:
    return f"projects/{project}"


def model_name(project: str, model: str) -> str:
    return f"projects/{project}/models/{model}"


def version_name(project: str, model: str, version: int | str) -> str:
    """``version`` is a number, an alias or ``latest``: all address a version."""
    return f"projects/{project}/models/{model}/versions/{version}"


def alias_name(project: str, model: str, alias: str) -> str:
    return f"projects/{project}/models/{model}/aliases/{alias}"


def dataset_name(project: str, dataset: str) -> str:
    return f"projects/{project}/datasets/{dataset}"


def dataset_version_name(project: str, dataset: str, version: str) -> str:
    return f"projects/{project}/datasets/{dataset}/versions/{version}"


def run_name(project: str, run: str) -> str:
    return f"projects/{project}/runs/{run}"


def evaluation_name(project: str, model: str, version: int | str, evaluation: str) -> str:
    return f"projects/{project}/models/{model}/versions/{version}/evaluations/{evaluation}"


def display_name(model: str, version: int) -> str:
    """A version's human name: ``translate_kr2en_v1``."""
    return f"{model}_v{version}"


def etag(revision: int) -> str:
    """A weak etag from the row's revision counter, bumped by every change."""
    return f'W/"{revision}"'
