"""Core: errors, configuration, script entry points, provenance and atomic artifacts.

The bottom layer. It imports only the standard library (and no other ``labhelpers`` subpackage), so every
other room may import it.
"""
