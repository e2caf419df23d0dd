"""``list_*`` returns a pager: iterate for every item, or ``.page(token)`` for one page
and the next token (what the dashboard pages its tables with), on both clients."""

from __future__ import annotations

import pytest

import modelreg
from tests.conftest import unique


def _project_with_models(client: modelreg.Client, count: int) -> str:
    project = unique("pager")
    client.create_project(project)
    for i in range(count):
        client.create_model(project, f"m{i:02d}")
    return project


def test_sync_pages_follow_tokens_and_iteration_sees_everything(
    sync_client: modelreg.Client,
) -> None:
    project = _project_with_models(sync_client, 7)
    listing = sync_client.list_models(project, order_by="name")
    first = listing.page(page_size=3)
    assert [m.name for m in first.items] == ["m00", "m01", "m02"]
    assert first.next_page_token
    second = listing.page(first.next_page_token, page_size=3)
    assert [m.name for m in second.items] == ["m03", "m04", "m05"]
    last = listing.page(second.next_page_token, page_size=3)
    assert [m.name for m in last.items] == ["m06"]
    assert last.next_page_token == ""
    # page() leaves the listing's own iteration untouched.
    assert [m.name for m in listing] == [f"m{i:02d}" for i in range(7)]
    # A fresh listing in pages of 2 still yields every item once.
    assert len(list(sync_client.list_models(project, page_size=2))) == 7


def test_sync_page_with_a_bad_token_names_the_field(sync_client: modelreg.Client) -> None:
    project = _project_with_models(sync_client, 1)
    with pytest.raises(modelreg.InvalidArgumentError) as err:
        sync_client.list_models(project).page("not-a-token")
    assert err.value.field == "page_token"


async def test_async_pages_follow_tokens(
    aclient: modelreg.AsyncClient, sync_client: modelreg.Client
) -> None:
    project = _project_with_models(sync_client, 5)
    listing = aclient.list_models(project, order_by="name desc")
    first = await listing.page(page_size=4)
    assert [m.name for m in first.items] == ["m04", "m03", "m02", "m01"]
    rest = await listing.page(first.next_page_token, page_size=4)
    assert [m.name for m in rest.items] == ["m00"]
    assert rest.next_page_token == ""
    assert len(first) == 4
    assert [m.name async for m in listing] == ["m04", "m03", "m02", "m01", "m00"]
