"""kiln: ONNX models to CUDA engines without TensorRT, from Python.

>>> import kiln
>>> engine = kiln.build("resnet50.onnx", precision="fp16")          # or kiln.load("resnet50.plan")
>>> with engine.static_session() as session:
...     y = session(x)        # NumPy in -> NumPy out; CUDA torch tensors in -> CUDA torch tensors out, no copies

A ctypes skin over libkiln.so (include/kiln/kiln.h): every default, check and message comes from the kiln
library, so Python says what the CLI says. docs/PYTHON.md is the reference.
"""

from .commands import accuracy, bench, compare
from .engine import Engine, TensorInfo, build, cuda_available, load, plan_info, version
from .errors import (AccuracyError, BadInputError, KilnError, KilnRuntimeError, UnsupportedError,
                     UsageError)
from .session import Session

__all__ = [
    "AccuracyError", "BadInputError", "Engine", "KilnError", "KilnRuntimeError", "Session", "TensorInfo",
    "UnsupportedError", "UsageError", "accuracy", "bench", "build", "compare", "cuda_available", "load",
    "plan_info", "version",
]
__version__ = "0.1.0"
