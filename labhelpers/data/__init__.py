"""Data: NYC taxi schemas, downloads, loading into one canonical frame, cleaning and the generated sample.

May import ``labhelpers.files`` and ``labhelpers.foundation``.
"""
