"""mputui: find, size and fix incomplete S3 multipart uploads from the terminal."""

__version__ = "0.1.0"
