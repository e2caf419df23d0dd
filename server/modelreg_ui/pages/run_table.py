"""The experiment table's model: what the query string asks for, the runs it reads, their
scores, their order, and the page of rows shown.

How sorting works. ListRuns orders only by start_time or run_id, so the table reads every
run that matches the filter (pages of 1,000, the API's largest, in start_time order, newest
first; in run_id order when sorting by run_id), at most ``MAX_RUNS`` of them, sorts them
here by any column, and renders one page of rows. Past the cap the page says so: the rows
are then sorted among the newest ``MAX_RUNS`` runs that match (narrow the filter to see
the rest). Runs with no value in the sort column come last in either direction; ties keep
the API's order (newest first).

The score column is the chosen metric: with no dataset, the run's latest value of it;
with a dataset version, the metric of the latest evaluation on that dataset version of a
version the run produced (the best one, by the goal, when it produced several), all from
one ``rank_versions`` listing of the whole project.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

import modelreg
from modelreg_ui.settings import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from modelreg_ui.web import BadParam, int_param

# At most this many runs are read to sort one table; the page says when there were more.
MAX_RUNS = 10_000
# Runs per ListRuns call, versions per RankModelVersions call: the API's largest page.
FETCH_PAGE = 1_000
# Runs whose curves one chart overlays.
MAX_SELECTED = 10
# Columns sortable by name (besides param.<key> and metric.<key>).
COLUMNS = ("start_time", "run_id", "state", "score")
# The columns a first click sorts descending: newest first; the best score first by goal.
DESC_FIRST = ("start_time",)

SortKey = tuple[int, Any]


@dataclass(frozen=True)
class TableQuery:
    """The table's state, all of it in the URL."""

    filter: str
    metric: str
    dataset: str
    goal: modelreg.Goal
    sort: str
    desc: bool
    page: int
    page_size: int
    selected: tuple[str, ...]
    curve: str

    @property
    def scored(self) -> bool:
        return bool(self.metric)


def parse_query(request: Request) -> TableQuery:
    """The table's query parameters, or BadParam naming the one that is wrong."""
    params = request.query_params
    metric = params.get("metric", "").strip()
    dataset = params.get("dataset", "").strip()
    if dataset and not metric:
        raise BadParam("metric", "choose the metric to score the runs by on the dataset")
    try:
        goal = modelreg.Goal(params.get("goal", "") or "max")
    except ValueError:
        raise BadParam("goal", f"must be max or min, not {params.get('goal')!r}") from None
    sort = params.get("sort", "").strip() or "-start_time"
    desc = sort.startswith("-")
    sort = sort.lstrip("-")
    direction = params.get("dir", "")
    if direction not in ("", "asc", "desc"):
        raise BadParam("dir", f"must be asc or desc, not {direction!r}")
    if direction:
        desc = direction == "desc"
    if sort not in COLUMNS and not (
        sort.partition(".")[0] in ("param", "metric") and sort.partition(".")[2]
    ):
        raise BadParam(
            "sort", f"{sort!r} is not a column: {', '.join(COLUMNS)}, param.<key> or metric.<key>"
        )
    if sort == "score" and not metric:
        raise BadParam("sort", "sorting by score needs a metric")
    selected = tuple(dict.fromkeys(r for r in params.getlist("run") if r))
    if len(selected) > MAX_SELECTED:
        raise BadParam("run", f"at most {MAX_SELECTED} runs are overlaid, not {len(selected)}")
    return TableQuery(
        filter=params.get("filter", "").strip(),
        metric=metric,
        dataset=dataset,
        goal=goal,
        sort=sort,
        desc=desc,
        page=int_param(request, "page", 1, low=1, high=MAX_RUNS),
        page_size=int_param(request, "page_size", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE),
        selected=selected,
        curve=params.get("curve", "").strip(),
    )


async def fetch_runs(
    client: modelreg.AsyncClient, project: str, q: TableQuery
) -> tuple[list[modelreg.Run], bool]:
    """The runs matching the filter, at most MAX_RUNS of them, and whether there were more."""
    order_by = ("run_id desc" if q.desc else "run_id") if q.sort == "run_id" else "start_time desc"
    pager = client.list_runs(project, filter=q.filter, order_by=order_by, page_size=FETCH_PAGE)
    runs: list[modelreg.Run] = []
    token = ""
    while True:
        page = await pager.page(token)
        runs.extend(page.items)
        token = page.next_page_token
        if not token:
            return runs, False
        if len(runs) >= MAX_RUNS:
            return runs[:MAX_RUNS], True


async def dataset_scores(
    client: modelreg.AsyncClient, project: str, q: TableQuery
) -> dict[str, float]:
    """Run id -> the metric of the latest evaluation on the dataset version of the version
    it produced (the best by the goal if several): one ranking of the whole project."""
    if not (q.metric and q.dataset):
        return {}
    scores: dict[str, float] = {}
    ranking = client.rank_versions(
        project, None, metric=q.metric, dataset=q.dataset, goal=q.goal, page_size=FETCH_PAGE
    )
    # Best first: a run's first ranked version is its best. Reading the versions'
    # source run is cheaper than reading every listed run's outputs.
    async for ranked in ranking:
        run = ranked.version.source_run.rpartition("/")[2]
        if run and run not in scores:
            scores[run] = ranked.score
    return scores


def finite(value: float | None) -> float | None:
    """The value, or None if it is NaN or infinite (not drawable, not sortable)."""
    return value if value is not None and math.isfinite(value) else None


def run_scores(
    runs: Sequence[modelreg.Run], q: TableQuery, by_run: dict[str, float]
) -> dict[str, float | None]:
    """Run id -> its score (None: no value)."""
    if not q.metric:
        return {}
    if q.dataset:
        return {run.run_id: by_run.get(run.run_id) for run in runs}
    out: dict[str, float | None] = {}
    for run in runs:
        point = run.latest_metrics.get(q.metric)
        out[run.run_id] = None if point is None else point.value
    return out


def _value_key(value: Any) -> SortKey | None:
    # Numbers (bools among them) before strings; None, NaN: no value.
    if value is None:
        return None
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return (0, float(value))


def sort_key(q: TableQuery, scores: dict[str, float | None]) -> Callable[[modelreg.Run], Any]:
    """The value a run is sorted by (None: it has none)."""
    if q.sort == "start_time":
        return lambda run: run.start_time
    if q.sort == "run_id":
        return lambda run: run.run_id
    if q.sort == "state":
        return lambda run: run.state.value
    if q.sort == "score":
        return lambda run: _value_key(scores.get(run.run_id))
    kind, _, key = q.sort.partition(".")
    if kind == "param":
        return lambda run: _value_key(run.params.get(key))
    return lambda run: _value_key(getattr(run.latest_metrics.get(key), "value", None))


def sorted_runs(
    runs: Sequence[modelreg.Run], q: TableQuery, scores: dict[str, float | None]
) -> list[modelreg.Run]:
    """Runs by the sort column; those without a value last, in either direction."""
    key = sort_key(q, scores)
    keyed = [(key(run), run) for run in runs]
    present = [kr for kr in keyed if kr[0] is not None]
    missing = [run for k, run in keyed if k is None]
    # sorted() is stable with reverse=True too: ties keep the API's order.
    present.sort(key=lambda kr: kr[0], reverse=q.desc)
    return [run for _, run in present] + missing


def metric_keys(runs: Sequence[modelreg.Run]) -> list[str]:
    """The metric keys of the runs, sorted."""
    return sorted({key for run in runs for key in run.latest_metrics})


def param_keys(runs: Sequence[modelreg.Run]) -> list[str]:
    return sorted({key for run in runs for key in run.params})
