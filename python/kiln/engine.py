"""Engines: :func:`build` from ONNX, :func:`load` a plan, :func:`plan_info` without a GPU, and the
:class:`Engine` with its I/O description and sessions."""

import ctypes
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import _lib
from .errors import UsageError

PathLike = Union[str, "os.PathLike[str]"]
ShapeMap = Mapping[str, Sequence[int]]


def _path(p: PathLike, what: str) -> bytes:
    if not isinstance(p, (str, bytes, os.PathLike)):
        raise UsageError("%s must be a path, got %s" % (what, type(p).__name__))
    return os.fsencode(p)


def _shape_map(m: Optional[ShapeMap], what: str) -> Optional[Dict[str, List[int]]]:
    if m is None:
        return None
    if not isinstance(m, Mapping):
        raise UsageError("%s must map input names to shapes, e.g. {'input': (1, 3, 224, 224)}" % what)
    try:
        return {str(k): [int(d) for d in v] for k, v in m.items()}
    except (TypeError, ValueError):
        raise UsageError("%s must map input names to sequences of ints, got %r" % (what, m)) from None


class TensorInfo:
    """One engine input or output.

    Attributes:
        name: the tensor's name.
        dtype: its ``numpy.dtype`` (``None`` for bfloat16, which NumPy lacks; ``dtype_name`` says "bfloat16").
        dtype_name: kiln's dtype name ("float32", "float16", "bfloat16", ...).
        shape: dims, ``-1`` where the engine is dynamic.
        profiles: for inputs, one ``(min, opt, max)`` tuple of shapes per optimization profile.
    """

    def __init__(self, name: str, dtype_name: str, shape: Sequence[int],
                 profiles: Sequence[Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]]] = ()) -> None:
        import numpy as np

        self.name = name
        self.dtype_name = dtype_name
        self.dtype = None if dtype_name == "bfloat16" else np.dtype(dtype_name)
        self.shape = tuple(int(d) for d in shape)
        self.profiles = list(profiles)

    @property
    def dynamic(self) -> bool:
        """True when some dim is set per run (``-1`` in ``shape``)."""
        return any(d < 0 for d in self.shape)

    def __repr__(self) -> str:
        return "TensorInfo(name=%r, dtype=%s, shape=%s)" % (self.name, self.dtype_name, self.shape)


class Engine:
    """A built or loaded kiln engine (one GPU). Make it with :func:`build` or :func:`load`.

    ``inputs`` / ``outputs`` describe its I/O, ``info`` is the whole description (precision, GPU, profiles,
    layers with their tactics, memory). Sessions run it; an engine can serve several sessions.
    """

    def __init__(self, handle: ctypes.c_void_p) -> None:
        self._handle = handle
        out = ctypes.c_void_p()
        _lib.check(_lib.lib().kiln_engine_info_json(handle, ctypes.byref(out)))
        self.info: Dict[str, Any] = json.loads(_lib.take_string(out) or "{}")
        profiles = self.info.get("profiles", [])

        def ranges(name: str) -> List[Tuple[Tuple[int, ...], ...]]:
            return [tuple(tuple(p[k][name]) for k in ("min", "opt", "max")) for p in profiles if name in p["min"]]

        self.inputs = [TensorInfo(i["name"], i["dtype"], i["dims"], ranges(i["name"])) for i in self.info["inputs"]]
        self.outputs = [TensorInfo(o["name"], o["dtype"], o["dims"]) for o in self.info["outputs"]]

    @property
    def precision(self) -> str:
        return self.info.get("precision", "")

    @property
    def dynamic(self) -> bool:
        """True when some input shape is set per run (use :meth:`dynamic_session`)."""
        return any(i.dynamic for i in self.inputs)

    def save(self, path: PathLike) -> None:
        """Writes the engine as a plan file (atomically)."""
        _lib.check(_lib.lib().kiln_engine_save(self._handle, _path(path, "path")))

    def static_session(self, shapes: Optional[ShapeMap] = None, stream: Any = None) -> "Session":
        """A session with fixed shapes (one captured CUDA graph). ``shapes`` is required for dynamic engines.

        ``stream``: a ``torch.cuda.Stream``, a raw ``cudaStream_t`` int, or ``None`` (the session makes its own
        stream and orders each device run on the caller's current torch stream with events).
        """
        from .session import Session, stream_handle

        js = _shape_map(shapes, "shapes")
        h = ctypes.c_void_p()
        _lib.check(_lib.lib().kiln_session_create_static(
            self._handle, stream_handle(stream), json.dumps(js).encode() if js else None, ctypes.byref(h)))
        return Session(self, h, dynamic=False, stream=stream)

    def dynamic_session(self, profile: int = 0, stream: Any = None) -> "Session":
        """A session whose input shapes are set per call, within optimization profile ``profile``."""
        from .session import Session, stream_handle

        if not isinstance(profile, int):
            raise UsageError("profile must be an int, got %s" % type(profile).__name__)
        h = ctypes.c_void_p()
        _lib.check(_lib.lib().kiln_session_create_dynamic(self._handle, stream_handle(stream), profile,
                                                          ctypes.byref(h)))
        return Session(self, h, dynamic=True, stream=stream)

    def __del__(self) -> None:
        h, self._handle = getattr(self, "_handle", None), None
        if h and _lib._lib is not None:
            _lib._lib.kiln_engine_destroy(h)

    def __repr__(self) -> str:
        return "kiln.Engine(precision=%s, inputs=%s, outputs=%s)" % (self.precision, self.inputs, self.outputs)


def _number_list(v: Any, what: str) -> List[float]:
    """A number, a sequence of numbers or a NumPy array (flattened) as a list of floats."""
    if hasattr(v, "tolist"):  # NumPy arrays and scalars
        v = v.tolist()
    items = v if isinstance(v, (list, tuple)) else [v]
    flat: List[float] = []
    for x in items:
        if isinstance(x, (list, tuple)):
            flat.extend(_number_list(x, what))
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            flat.append(float(x))
        else:
            raise UsageError("%s must hold numbers, got %r" % (what, x))
    return flat


def build(onnx: PathLike, precision: Optional[str] = None, shapes: Optional[ShapeMap] = None,
          profiles: Optional[Sequence[Mapping[str, ShapeMap]]] = None, timing_cache: Optional[PathLike] = None,
          workspace_mib: Optional[float] = None, layer_precisions: Optional[Mapping[str, str]] = None,
          optimization_level: Optional[int] = None, input_io_formats: Optional[Sequence[str]] = None,
          output_io_formats: Optional[Sequence[str]] = None, tune: Optional[bool] = None,
          input_values: Optional[Mapping[str, Any]] = None) -> Engine:
    """Builds a CUDA engine from an ONNX model (``kiln build``). Arguments left ``None`` take kiln's defaults
    (precision fp32, workspace 256 MiB, optimization level 3, tuning on), exactly as the CLI does.

    Args:
        onnx: the .onnx file.
        precision: "fp32", "tf32", "fp16" or "bf16" (``--fp16`` ...).
        shapes: static engine: sizes of the inputs' symbolic dims, ``{"input": (8, 3, 224, 224)}``.
        profiles: dynamic engine: ``[{"min": {...}, "opt": {...}, "max": {...}}]`` shape maps per profile.
        timing_cache: file read if present and written after the build (``--timingCacheFile``).
        workspace_mib: workspace limit in MiB (``--memPoolSize=workspace:N``).
        layer_precisions: ``{"node name": "fp32"}`` (``--layerPrecisions``).
        optimization_level: 0..5 (``--builderOptimizationLevel``).
        input_io_formats / output_io_formats: engine I/O dtypes, one per input / output ("fp16", ...).
        tune: False picks tactics from heuristics only (``--noTune``).
        input_values: model inputs fixed at build, ``{"k": [3], "axes": [0, 2]}`` (``--inputValues``): they
            stop being engine inputs and fold like constants (parameter inputs the GPU needs as constants).
    """
    options: Dict[str, Any] = {
        "precision": precision,
        "shapes": _shape_map(shapes, "shapes"),
        "timing_cache": os.fsdecode(timing_cache) if timing_cache is not None else None,
        "workspace_mib": workspace_mib,
        "layer_precisions": dict(layer_precisions) if layer_precisions is not None else None,
        "optimization_level": optimization_level,
        "input_io_formats": list(input_io_formats) if input_io_formats is not None else None,
        "output_io_formats": list(output_io_formats) if output_io_formats is not None else None,
        "tune": tune,
        "input_values": ({k: _number_list(v, "input_values[%r]" % k) for k, v in dict(input_values).items()}
                         if input_values is not None else None),
    }
    if profiles is not None:
        if isinstance(profiles, Mapping):
            profiles = [profiles]
        options["profiles"] = [{k: _shape_map(v, "profiles[%d][%r]" % (i, k)) for k, v in dict(p).items()}
                               for i, p in enumerate(profiles)]
    options = {k: v for k, v in options.items() if v is not None}
    try:
        text = json.dumps(options)
    except (TypeError, ValueError) as e:
        raise UsageError("build options cannot be written as JSON: %s" % e) from None
    h = ctypes.c_void_p()
    _lib.check(_lib.lib().kiln_engine_build(_path(onnx, "onnx"), text.encode(), ctypes.byref(h)))
    return Engine(h)


def load(path: PathLike) -> Engine:
    """Loads a plan written by :meth:`Engine.save` or ``kiln build --saveEngine`` (needs its GPU)."""
    h = ctypes.c_void_p()
    _lib.check(_lib.lib().kiln_engine_load(_path(path, "path"), ctypes.byref(h)))
    return Engine(h)


def plan_info(path: PathLike) -> Dict[str, Any]:
    """A plan file's header without a GPU: the ``kiln info model.plan --json`` document (kiln.plan-info/1):
    ``header`` holds env (GPU name, SM, library versions), precision, profiles, inputs/outputs, layers, memory."""
    out = ctypes.c_void_p()
    _lib.check(_lib.lib().kiln_plan_info_json(_path(path, "path"), ctypes.byref(out)))
    return json.loads(_lib.take_string(out) or "{}")


def cuda_available() -> Tuple[bool, str]:
    """``(True, "")`` when a CUDA GPU is usable, else ``(False, why)``."""
    available = ctypes.c_int()
    why = ctypes.c_void_p()
    _lib.check(_lib.lib().kiln_cuda_available(ctypes.byref(available), ctypes.byref(why)))
    return bool(available.value), _lib.take_string(why) or ""


def version() -> str:
    """kiln's version and git commit, e.g. "0.1.0 (fbcfae1798af)"."""
    return _lib.lib().kiln_version().decode()
