"""Lets the examples run from a checkout without installing the package (python/ on sys.path)."""
import sys
from pathlib import Path

_python = Path(__file__).resolve().parents[2] / "python"
if _python.is_dir() and str(_python) not in sys.path:
    sys.path.insert(0, str(_python))
