"""The data the models-area dashboard tests look at: a project with model ``ranker`` of
six versions, each registered from its own run, evaluated on three dataset versions,
with aliases moved several times, and a lineage chain

    train/v1 (batch 2026-01-05) -> run r3 -> ranker v3 -> ranker v6 (fine-tuned) ,

plus a deployment ``web`` serving v5 and a pipeline run ``nightly/n1`` whose step
``validate`` read v5 and test/v1.

    v   lr     layers optimizer batch_size  holdout/v1 acc, loss  holdout [kr] acc  test/v1 acc
    1   0.1    2      sgd       32          0.70  0.90
    2   0.05   2      adam      32          0.75  0.70
    3   0.01   4      adam      32          0.82  0.50            0.77              0.79
    4   0.01   4      adamw     32          0.80  0.55
    5   0.001  8      adam      32          0.86  0.45            0.81              0.78
    6   0.001  4      adam      32 (+frozen) 0.84  0.40                              0.81

Aliases, in order: production -> 1, staging -> 2, production -> 3, staging -> 5,
production -> 5, production rolled back (-> 3), staging -> 6.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import modelreg
from tests.conftest import unique

MODEL = "ranker"
PARAMS: dict[int, dict[str, modelreg.ParamValue]] = {
    1: {"lr": 0.1, "layers": 2, "optimizer": "sgd", "batch_size": 32},
    2: {"lr": 0.05, "layers": 2, "optimizer": "adam", "batch_size": 32},
    3: {"lr": 0.01, "layers": 4, "optimizer": "adam", "batch_size": 32},
    4: {"lr": 0.01, "layers": 4, "optimizer": "adamw", "batch_size": 32},
    5: {"lr": 0.001, "layers": 8, "optimizer": "adam", "batch_size": 32},
    6: {"lr": 0.001, "layers": 4, "optimizer": "adam", "batch_size": 32, "frozen": True},
}
HOLDOUT = {
    1: {"accuracy": 0.70, "loss": 0.90},
    2: {"accuracy": 0.75, "loss": 0.70},
    3: {"accuracy": 0.82, "loss": 0.50},
    4: {"accuracy": 0.80, "loss": 0.55},
    5: {"accuracy": 0.86, "loss": 0.45},
    6: {"accuracy": 0.84, "loss": 0.40},
}
HOLDOUT_KR = {3: {"accuracy": 0.77}, 5: {"accuracy": 0.81}}
TEST = {3: {"accuracy": 0.79}, 5: {"accuracy": 0.78}, 6: {"accuracy": 0.81}}
# (alias, version or None for a rollback), in order.
ALIAS_MOVES: list[tuple[str, int | None]] = [
    ("production", 1),
    ("staging", 2),
    ("production", 3),
    ("staging", 5),
    ("production", 5),
    ("production", None),
    ("staging", 6),
]


@dataclass(frozen=True)
class Scenario:
    project: str
    train: modelreg.DatasetVersion
    holdout: modelreg.DatasetVersion
    test: modelreg.DatasetVersion
    versions: dict[int, modelreg.ModelVersion]
    runs: dict[int, str]  # version -> the run's resource name
    pipeline_run: str

    @property
    def model_url(self) -> str:
        return f"/projects/{self.project}/models/{MODEL}"

    def version_url(self, n: int | str) -> str:
        return f"{self.model_url}/versions/{n}"


def build(client: modelreg.Client) -> Scenario:
    project = unique("uimodels")
    client.create_project(project, description="models-area dashboard tests")
    train = client.create_dataset_version(
        project, "train", version="v1", uri="s3://d/train/v1", batch_id="2026-01-05"
    )
    holdout = client.create_dataset_version(project, "holdout", version="v1", uri="s3://d/h/v1")
    test = client.create_dataset_version(project, "test", version="v1", uri="s3://d/t/v1")
    versions: dict[int, modelreg.ModelVersion] = {}
    runs: dict[int, str] = {}
    for n, params in PARAMS.items():
        with client.start_run(project, run_id=f"r{n}", params=params, inputs=[train]) as run:
            run.log_metrics({"train_loss": HOLDOUT[n]["loss"] + 0.1}, step=1)
            v = run.register_model_version(
                MODEL,
                artifact_uri=f"s3://m/ranker/{n}/model.pt",
                artifact_sha256=f"{n:064x}",
                artifact_format="pytorch",
                architecture="mlp",
                architecture_config={"hidden": 64 * n, "activation": "relu"},
                code_version=modelreg.CodeVersion("git@example.com:ml/ranker", f"c0ffee{n}"),
                parent_version=versions[3].resource_name if n == 6 else None,
                labels={"team": "search"},
                description=f"ranker number {n}",
            )
            versions[n] = v
            runs[n] = run.resource_name
    for n, metrics in HOLDOUT.items():
        client.log_evaluation(versions[n], dataset=holdout, metrics=metrics, run=runs[n])
    for n, metrics in HOLDOUT_KR.items():
        client.log_evaluation(versions[n], dataset=holdout, metrics=metrics, slice="country=kr")
    for n, metrics in TEST.items():
        client.log_evaluation(versions[n], dataset=test, metrics=metrics)
    for alias, target in ALIAS_MOVES:
        if target is None:
            client.rollback_alias(project, MODEL, alias, reason="bad canary")
        else:
            client.set_alias(project, MODEL, alias, target, reason=f"promote v{target}")
    client.create_deployment(project, "web", model=MODEL, traffic={5: 100}, environment="prod")
    with (
        client.pipeline_run(project, "nightly", run_id="n1") as pipeline,
        pipeline.step("validate", inputs=[versions[5], test]),
    ):
        pass
    # Versions read back: with their aliases as they are now.
    versions = {n: client.get_model_version(project, MODEL, n) for n in versions}
    return Scenario(project, train, holdout, test, versions, runs, pipeline.resource_name)


# A small DOM of a page (the standard library's HTMLParser), to find elements by tag,
# id, class and attributes in the tests.

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str]

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def iter(self) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: str = "", *, cls: str = "", **attrs: str) -> list[Element]:
        """Descendants with the tag (any if ""), the class, and these attribute values
        (``data_version="3"`` is ``data-version``; ``id_`` is ``id``)."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            e
            for e in self.iter()
            if (not tag or e.tag == tag)
            and (not cls or cls in e.classes)
            and all(e.attrs.get(k) == v for k, v in wanted.items())
        ]

    def find(self, tag: str = "", *, cls: str = "", **attrs: str) -> Element:
        found = self.find_all(tag, cls=cls, **attrs)
        assert found, f"no <{tag or '*'}> with class {cls!r} and {attrs}"
        return found[0]

    def by_id(self, id_: str) -> Element:
        return self.find(id_=id_)

    def links(self) -> list[str]:
        return [e.attrs["href"] for e in self.find_all("a") if "href" in e.attrs]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("document", {}, [])
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, [])
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}, []))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def get(http: Any, url: str, status: int = 200, **params: Any) -> Element:
    """The parsed page at ``url``, after checking its status and that it shows no traceback."""
    response = http.get(url, params=params) if params else http.get(url)
    assert response.status_code == status, response.text[-2000:]
    assert "Traceback" not in response.text
    return parse(response.text)
