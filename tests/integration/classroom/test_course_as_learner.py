"""The course as a learner runs it on the classroom server: the export block's variables, backend = "env".

Notebooks 02-04 run with papermill as the roster account ``coursework``: every name comes from that learner's
namespace, every write passes MLflow's basic-auth over TLS, and the course ends as it does on the local
server. 01 trains offline and 05 serves models locally: tests/notebooks runs both; here the session's
training outputs stand in for 01's run folder.
"""

from __future__ import annotations

import shutil

from labhelpers.core.learner import namespace
from labhelpers.registry.pinning import read_pins


def test_notebooks_02_to_04_run_as_a_learner_on_the_classroom_server(
    classroom, as_learner, coursework, trained_dirs, sample_csv, tmp_path, monkeypatch
):
    from mlflow import MlflowClient

    from labhelpers.course.run import NOTEBOOKS, run_course

    uri = as_learner(coursework)  # what the learner's export block sets; the kernels inherit it
    monkeypatch.setenv("LAB_LEARNER", coursework)
    # 04 trains its deliberately worse model on `data`: the small sample, as 01 did
    outputs = tmp_path / "outputs"
    parameters: dict[str, object] = {
        "backend": "env",
        "data": str(sample_csv),
        "output_dir": str(outputs),
    }
    shutil.copytree(
        trained_dirs[0].parent, tmp_path / "outputs" / "run-20260101-000000-000000"
    )  # 01's folder
    run_course(tmp_path / "executed", parameters, notebooks=NOTEBOOKS[1:4], echo=None, learner=coursework)

    space = namespace(coursework)
    client = MlflowClient(uri, uri)  # signed in as the learner
    linear = space.models["linear"]
    versions = {int(v.version): v for v in client.search_model_versions(f"name='{linear}'")}
    assert {n: v.tags["lifecycle"] for n, v in versions.items()} == {
        1: "candidate", 2: "production", 3: "archived", 4: "rejected",  # 4: under the production gate's floor
    }  # fmt: skip
    assert {v.tags["learner"] for v in versions.values()} == {coursework}
    for name in space.model_names:
        assert len(client.search_model_versions(f"name='{name}'")) == 4, name
    by_hand = client.search_model_versions(f"name='{space.by_hand}'")
    assert sorted(v.version for v in by_hand) == ["1", "2"]  # 02 by hand; 03 from the best run
    assert read_pins(outputs / "deployment") == {linear: f"azureml:{linear}:2"}
