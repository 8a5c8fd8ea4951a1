"""The registry after the course, in a few lines: versions and lifecycle per model, pins, the UI address."""

from __future__ import annotations

from pathlib import Path

from labhelpers.foundation.learner import namespace


def summary(tracking_uri: str | None = None, deployment_dir: str | Path | None = None) -> str:
    """The registry after the course: versions and lifecycle per model, production pins, the UI address.

    Args:
        tracking_uri: Tracking server (default ``$MLFLOW_TRACKING_URI``, else the local server).
        deployment_dir: Where the pins were written (default: ``ML/deployment``).

    Raises:
        ServerError: The tracking server does not answer.
    """
    from labhelpers.registry.catalog import comparison_table
    from labhelpers.registry.pinning import DEPLOYMENT_DIR, PINS_FILE, read_pins
    from labhelpers.tracking.connection import use_tracking

    names = namespace().model_names  # the learner's ($LAB_LEARNER), else the seed's
    uri = use_tracking(tracking_uri)
    table = comparison_table(names)
    lines = [f"Registry at {uri}: {table['name'].nunique()} of {len(names)} models registered"]
    for name in names:
        versions = table[table["name"] == name]
        pairs = zip(versions["version"], versions["lifecycle"], strict=True)
        states = ", ".join(f"v{version} {state or '-'}" for version, state in pairs)
        lines.append(f"  {name}: {states or 'no versions yet (run notebook 02)'}")
    pins = read_pins(deployment_dir)
    lines.append(f"Production pins in {Path(deployment_dir or DEPLOYMENT_DIR) / PINS_FILE}:")
    for name, reference in sorted(pins.items()):
        live = table.loc[(table["name"] == name) & (table["lifecycle"] == "production"), "version"].tolist()
        agrees = reference == f"azureml:{name}:{live[0]}" if live else False
        note = "matches the registry" if agrees else f"registry production: {live or 'none'}"
        lines.append(f"  {name}: {reference} ({note})")
    if not pins:
        lines.append("  none yet (notebook 04 promotes and pins)")
    ui = uri if uri.startswith("http") else "https://ml.azure.com (Models)"
    lines.append(f"MLflow UI: {ui}")
    return "\n".join(lines)
