"""Course: running the notebooks, the registry summary and the plots the notebooks show.

The top room below the command line: may import every other subpackage.
"""
