"""WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``, ``flask --app wsgi``."""

import sys

from app import create_app
from config import ConfigurationError

try:
    app = create_app()
except ConfigurationError as error:
    # One line that says what is missing, not a traceback.
    sys.exit(f"configuration error: {error}")
