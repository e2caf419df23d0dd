"""Unit tests of the List `filter` grammar and page tokens (no database)."""

from __future__ import annotations

import pytest

from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.storage import filters, pagination


def test_parse_conjunction_of_typed_comparisons() -> None:
    parsed = filters.parse(
        'params.lr < 0.05 AND labels.team = "nlp" AND version >= 3 AND params.ema = true'
    )
    assert parsed == [
        filters.Comparison("params.lr", "<", 0.05),
        filters.Comparison("labels.team", "=", "nlp"),
        filters.Comparison("version", ">=", 3),
        filters.Comparison("params.ema", "=", True),
    ]
    assert isinstance(parsed[2].value, int)


def test_string_literals_keep_escapes_and_spaces() -> None:
    (c,) = filters.parse(r'labels.note = "a \"quoted\" value"')
    assert c.value == 'a "quoted" value'


@pytest.mark.parametrize(
    "text",
    [
        "version",  # no operator
        "version =",  # no value
        "version = 1 version = 2",  # missing AND
        "version == 1",  # unknown operator
        "version = 1 OR version = 2",  # OR is not in the grammar
        "= 3",
        "version = ; DROP TABLE projects",
        'labels.x = "unterminated',
    ],
)
def test_bad_syntax_names_the_filter_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        filters.parse(text)
    assert info.value.violations[0].field == "filter"


def test_unknown_field_lists_the_allowed_ones() -> None:
    fields = {"version": filters.column(None, "int"), "params.": filters.column(None, "int")}
    with pytest.raises(InvalidArgument) as info:
        filters.compile_filter("secret = 1", fields)
    assert "unknown field 'secret'" in info.value.message
    assert "params.<key>" in info.value.message


def test_wrong_value_type_is_rejected() -> None:
    with pytest.raises(InvalidArgument, match="expected a int value"):
        filters.coerce("three", "int", "version")
    with pytest.raises(InvalidArgument, match="RFC 3339"):
        filters.coerce("yesterday", "time", "create_time")
    with pytest.raises(InvalidArgument, match="zone"):
        filters.coerce("2026-01-01T00:00:00", "time", "create_time")


def test_page_token_round_trip_and_query_binding() -> None:
    tokens = pagination.PageTokens(b"k" * 32)
    fp = pagination.fingerprint("version > 3", "version", "p", "m")
    token = tokens.encode(fp, [7, 7])
    assert tokens.decode(token, fp, 2) == [7, 7]
    other = pagination.fingerprint("version > 4", "version", "p", "m")
    with pytest.raises(InvalidArgument, match="another listing"):
        tokens.decode(token, other, 2)
    with pytest.raises(InvalidArgument, match="altered"):
        tokens.decode("!!not-a-token!!", fp, 2)


def test_order_by_allow_list() -> None:
    assert pagination.parse_order_by("", ("version", "create_time"), "version") == (
        "version",
        False,
    )
    assert pagination.parse_order_by("create_time DESC", ("version", "create_time"), "version") == (
        "create_time",
        True,
    )
    for bad in ("artifact_uri", "version sideways", "version desc extra"):
        with pytest.raises(InvalidArgument) as info:
            pagination.parse_order_by(bad, ("version", "create_time"), "version")
        assert info.value.violations[0].field == "order_by"


def test_page_size_bounds() -> None:
    assert pagination.page_size(0) == pagination.DEFAULT_PAGE_SIZE
    assert pagination.page_size(10**6) == pagination.MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument):
        pagination.page_size(-1)
