"""The course as a learner runs it on the classroom server: the export block's variables, backend = "env".

Notebooks 01-04 run with papermill as the roster account ``coursework``: every name comes from that learner's
namespace, every write (01's tracked training runs included) passes MLflow's basic-auth over TLS, and the
course ends as it does on the local server. 05 serves models locally: tests/notebooks runs it. Then notebook
06 runs as the same learner: the classroom refuses its attempt to move another learner's ``@production``
(HTTP 403), and nothing of theirs changes.
"""

from __future__ import annotations

from pathlib import Path

from labhelpers.foundation.learner import namespace
from labhelpers.registry.pinning import read_pins
from labhelpers.training.sweep import FEATURE_SETS


def test_notebooks_01_to_04_run_as_a_learner_on_the_classroom_server(
    classroom, as_learner, coursework, sample_csv, tmp_path, monkeypatch
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
    run_course(tmp_path / "executed", parameters, notebooks=NOTEBOOKS[:4], echo=None, learner=coursework)

    space = namespace(coursework)
    client = MlflowClient(uri, uri)  # signed in as the learner
    linear = space.models["linear"]
    versions = {int(v.version): v for v in client.search_model_versions(f"name='{linear}'")}
    # 02: the pipeline's batch, then the best run by hand; 04: the June batch and the worse batch
    newest = max(versions)
    meter = ",".join(FEATURE_SETS["meter"])
    shipped = min(n for n, v in versions.items() if v.tags["features"] == meter)
    best, june, worse = newest - 2, newest - 1, newest
    assert {n: versions[n].tags["lifecycle"] for n in (best, shipped, june, worse)} == {
        best: "production", shipped: "archived", june: "archived", worse: "candidate",
    }  # fmt: skip
    assert {v.tags["learner"] for v in versions.values()} == {coursework}
    for name in space.model_names:  # the fare model's best run was registered alone
        assert len(client.search_model_versions(f"name='{name}'")) == newest - (name != linear), name
    experiment, run_id = client.get_experiment_by_name(space.experiment), versions[best].run_id
    assert experiment is not None and run_id is not None
    # the version links to the learner's own training run
    assert client.get_run(run_id).info.experiment_id == experiment.experiment_id
    pins = read_pins(Path(str(parameters["output_dir"])) / "deployment")
    assert pins == {linear: f"azureml:{linear}:{best}"}
    _notebook_06_is_refused_another_learner_s_production(client, tmp_path, coursework)


def _notebook_06_is_refused_another_learner_s_production(client, tmp_path, coursework) -> None:
    """Notebook 06 as the same learner, after 04: its `@production` cell tries another learner's fare model.

    Every roster learner's fare model exists (the roster creates it) and everyone may read it: the cell finds
    one, the server answers 403, and that model is exactly as it was. The learner's own copy and deletion go
    through (their shared production model is in their namespace).
    """
    import nbformat

    from labhelpers.course.run import NOTEBOOKS, run_course
    from labhelpers.foundation.config import LINEAR_MODEL_NAME

    space = namespace(coursework)

    def others() -> dict:
        found = client.search_registered_models(f"name LIKE '{LINEAR_MODEL_NAME}-%'")
        return {
            m.name: (m.aliases, m.tags, m.last_updated_timestamp)
            for m in found
            if m.name != space.models["linear"]
        }

    before = others()
    assert before  # the roster created every learner's fare model
    governed = NOTEBOOKS.index("06_govern_the_registry.ipynb")
    run_course(tmp_path / "executed-06", {"backend": "env"}, notebooks=NOTEBOOKS[governed:], echo=None)
    cells = nbformat.read(tmp_path / "executed-06" / NOTEBOOKS[governed], as_version=4).cells
    who = next(c for c in cells if c.get("id") == "who")
    printed = "".join(o.get("text", "") for o in who.outputs if o.get("name") == "stdout").splitlines()
    target = printed[0].split("@production: ")[0]
    assert target in before and printed == [
        f"{target}@production: refused, HTTP 403 PERMISSION_DENIED",
        f"{target}'s aliases unchanged: True",
    ]
    assert others() == before  # no alias, tag or update on any other learner's fare model
    production = [v for v in client.search_model_versions(f"name='{space.models['linear']}'")]
    (number,) = [v.version for v in production if v.tags["lifecycle"] == "production"]
    copies = client.search_model_versions(f"name='{space.shared_production}'")
    assert [v.source for v in copies] == [f"models:/{space.models['linear']}/{number}"]  # the mistake is gone
