"""The README's quickstart, end to end over gRPC."""

from __future__ import annotations

import modelreg
from tests.conftest import unique


def test_quickstart(client: modelreg.Client) -> None:
    name = unique("translate_kr2en")
    client.create_project(name, description="Korean to English")
    v = client.register_model_version(
        name,
        name,
        artifact_uri="./model/v1.pth",
        params={"lr": 0.01},
        architecture="transformer-base",
    )
    assert (v.version, v.display_name) == (1, f"{name}_v1")
    client.set_alias(name, name, "production", 1)
    assert client.get_model_version(name, name, "production").version == 1
    assert [x.version for x in client.list_model_versions(name, name)] == [1]
    assert [e.to_version for e in client.alias_history(name, name, "production")] == [1]
