"""Aliases end to end: set, move, resolve, etags, history and rollback."""

from __future__ import annotations

import pytest

import modelreg
from modelreg import AliasEventKind, VersionState
from tests.support import UTC_OFFSET, register


def test_aliases(client: modelreg.Client, project: str) -> None:
    register(client, project, "m", 3)
    first = client.set_alias(project, "m", "production", 1, reason="initial release")
    assert (first.alias, first.version, first.updated_by) == ("production", 1, "tester")
    moved = client.set_alias(project, "m", "production", 2, reason="better bleu")
    assert moved.version == 2
    assert moved.etag != first.etag
    assert client.get_alias(project, "m", "production") == moved
    assert client.get_model_version(project, "m", "production").version == 2

    # A stale etag refuses the move; the current one allows it.
    with pytest.raises(modelreg.ConflictError):
        client.set_alias(project, "m", "production", 3, etag=first.etag)
    assert client.get_alias(project, "m", "production").version == 2

    # An alias may be set from another alias: it takes that alias's version.
    staging = client.set_alias(project, "m", "staging", "production")
    assert staging.version == 2
    assert client.get_model_version(project, "m", "staging").version == 2
    assert [(a.alias, a.version) for a in client.list_aliases(project, "m")] == [
        ("production", 2),
        ("staging", 2),
    ]
    assert client.get_model_version(project, "m", 2).aliases == ("production", "staging")

    with pytest.raises(modelreg.InvalidArgumentError) as info:
        client.set_alias(project, "m", "production", 99)
    assert info.value.field == "version"
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        client.set_alias(project, "m", "latest", 1)  # reserved: it always means the newest
    assert info.value.field == "alias"
    with pytest.raises(modelreg.NotFoundError):
        client.get_alias(project, "m", "canary")


def test_alias_history_and_rollback(client: modelreg.Client, project: str) -> None:
    register(client, project, "m", 3)
    client.set_alias(project, "m", "production", 1, reason="v1")
    client.set_alias(project, "m", "production", 2, reason="v2")
    current = client.set_alias(project, "m", "production", 3, reason="v3")

    history = client.alias_history(project, "m", "production")
    assert [(e.kind, e.from_version, e.to_version, e.reason) for e in history] == [
        (AliasEventKind.SET, 2, 3, "v3"),
        (AliasEventKind.SET, 1, 2, "v2"),
        (AliasEventKind.SET, None, 1, "v1"),
    ]
    assert {e.actor for e in history} == {"tester"}
    assert all(e.alias == "production" for e in history)
    assert [e.sequence for e in history] == sorted((e.sequence for e in history), reverse=True)
    assert all(e.event_time.utcoffset() == UTC_OFFSET for e in history)

    with pytest.raises(modelreg.ConflictError):
        client.rollback_alias(project, "m", "production", etag='W/"999"')
    back = client.rollback_alias(project, "m", "production", reason="regression", etag=current.etag)
    assert back.version == 2
    assert client.get_model_version(project, "m", "production").version == 2
    assert client.rollback_alias(project, "m", "production").version == 1
    with pytest.raises(modelreg.FailedPreconditionError):
        client.rollback_alias(project, "m", "production")
    assert client.get_alias(project, "m", "production").version == 1

    latest = client.alias_history(project, "m", "production")[:2]
    assert [(e.kind, e.from_version, e.to_version, e.reason) for e in latest] == [
        (AliasEventKind.ROLLBACK, 2, 1, ""),
        (AliasEventKind.ROLLBACK, 3, 2, "regression"),
    ]

    client.delete_alias(project, "m", "production", reason="retired")
    event = client.alias_history(project, "m", "production")[0]
    assert (event.kind, event.from_version, event.to_version, event.reason, event.actor) == (
        AliasEventKind.DELETE,
        1,
        None,
        "retired",
        "tester",
    )
    with pytest.raises(modelreg.NotFoundError):
        client.get_model_version(project, "m", "production")
    with pytest.raises(modelreg.NotFoundError):
        client.get_alias(project, "m", "production")
    with pytest.raises(modelreg.NotFoundError):
        client.delete_alias(project, "m", "production")
    assert client.list_aliases(project, "m") == []
    # The version itself is untouched, and may now be deleted.
    assert client.delete_model_version(project, "m", 1).state is VersionState.DELETED


def test_aliases_of_two_models_are_independent(client: modelreg.Client, project: str) -> None:
    register(client, project, "a", 3)
    register(client, project, "b", 2)
    client.set_alias(project, "a", "production", 3)
    client.set_alias(project, "b", "production", 1)
    assert client.get_model_version(project, "a", "production").version == 3
    assert client.get_model_version(project, "b", "production").version == 1
    assert [(x.model, x.version) for x in client.list_aliases(project, "a")] == [("a", 3)]
    assert [(x.model, x.version) for x in client.list_aliases(project, "b")] == [("b", 1)]

    client.set_alias(project, "b", "production", 2)
    client.delete_alias(project, "b", "production")
    assert client.get_alias(project, "a", "production").version == 3
    assert [e.to_version for e in client.alias_history(project, "a", "production")] == [3]
    with pytest.raises(modelreg.NotFoundError):
        client.get_model_version(project, "b", "production")
