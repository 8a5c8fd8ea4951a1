"""Errors a learner can act on: each says what went wrong, where, and what to do next."""

from __future__ import annotations


class LabError(Exception):
    """Base class for every error labhelpers raises on purpose.

    Scripts and the CLI print ``str(error)`` without a traceback and exit with status 2.
    """

    exit_code = 2


class DataError(LabError):
    """A data file or URL cannot be read, or holds nothing usable."""


class SchemaError(DataError):
    """A data file's columns match none of the known NYC taxi schemas."""


class TrainingError(LabError):
    """Training cannot run on the data given, or its output folder is unusable."""


class ServerError(LabError):
    """The local MLflow server cannot be started, reached or stopped."""


class RegistryError(LabError):
    """Registration, a version reference or a promotion was refused."""


class CourseError(LabError):
    """A notebook of the course failed, or the course was asked for something it cannot do."""
