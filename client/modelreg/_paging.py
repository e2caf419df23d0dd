"""One page of a listing (``AsyncPager.page`` / ``Pager.page``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """The items of one page and the token of the next ("" after the last page).

    Attributes:
        items: the page's items, in the listing's order.
        next_page_token: pass it to ``page()`` for the next page; "" when this is the last.
    """

    items: tuple[T, ...]
    next_page_token: str = ""

    def __len__(self) -> int:
        return len(self.items)
