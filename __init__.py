"""rectify: the rectification-cycle workflow engine."""
__version__ = "0.1.0"
