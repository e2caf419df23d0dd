"""Resource names (AIP-122) and etags, in one place for every layer.

Parsing names from requests is the transport's job (transport/names.py); this
module only spells them, so an error message, a stored response and a reply name
a resource the same way."""

from __future__ import annotations


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
