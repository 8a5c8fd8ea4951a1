"""Files: output folders written atomically, JSON and text written atomically, checksummed manifests.

``artifacts`` is what training writes and registration reads: a folder appears whole or not at all, and a
full disk is reported as such.

May import ``labhelpers.foundation`` only.
"""
