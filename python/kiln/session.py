"""Sessions: run an engine on NumPy arrays (host path, through pinned buffers) or on CUDA tensors (device path,
zero-copy: kiln reads and writes the tensors' own memory, ordered on the caller's stream)."""

import ctypes
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import _lib
from .errors import UsageError

_MAX_RANK = 16


def stream_handle(stream: Any) -> Optional[int]:
    """A ``cudaStream_t`` value from a ``torch.cuda.Stream`` (anything with ``cuda_stream``), an int, or None."""
    if stream is None:
        return None
    if isinstance(stream, int) and not isinstance(stream, bool):
        return stream
    handle = getattr(stream, "cuda_stream", None)
    if isinstance(handle, int):
        return handle
    raise UsageError("stream must be a torch.cuda.Stream, a cudaStream_t int or None, got %s" % type(stream).__name__)


def _torch_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")  # never imported here unless the caller already did
    return torch is not None and isinstance(x, torch.Tensor)


def _is_device(x: Any) -> bool:
    if _torch_tensor(x):
        return bool(x.is_cuda)
    try:
        return hasattr(x, "__cuda_array_interface__")  # CuPy, Numba, ... (a property or an instance attribute)
    except Exception:  # noqa: BLE001 - a property that raises is not a device array we can use
        return False


def _c_strides(shape: Sequence[int], itemsize: int) -> Tuple[int, ...]:
    strides, step = [], itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= max(int(d), 1)
    return tuple(reversed(strides))


def _device_view(name: str, x: Any, what: str) -> Tuple[str, Tuple[int, ...], int]:
    """(dtype name, shape, data pointer) of a tensor for the device path; refuses non-contiguous ones."""
    if _torch_tensor(x):
        if not x.is_contiguous():
            raise UsageError("%s '%s' is not C-contiguous (strides %s); pass it as .contiguous()"
                             % (what, name, tuple(x.stride())))
        return str(x.dtype).replace("torch.", ""), tuple(x.shape), int(x.data_ptr())
    cai = getattr(x, "__cuda_array_interface__", None)
    if cai is None:
        import numpy as np

        a = np.asarray(x)  # host memory: its pointer is passed on, and kiln refuses it with a message
        return a.dtype.name, a.shape, int(a.ctypes.data)
    import numpy as np

    dtype = np.dtype(cai["typestr"])
    shape = tuple(int(d) for d in cai["shape"])
    strides = cai.get("strides")
    if strides is not None and tuple(strides) != _c_strides(shape, dtype.itemsize):
        raise UsageError("%s '%s' is not C-contiguous (strides %s); pass a contiguous copy"
                         % (what, name, tuple(strides)))
    return dtype.name, shape, int(cai["data"][0] or 0)


def _torch_current_stream(x: Any) -> int:
    """torch's current stream on the tensor's device, as a cudaStream_t int (the raw getter when torch has it:
    it skips building a torch.cuda.Stream object, which costs microseconds per call)."""
    import torch

    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    if raw is not None:
        return int(raw(x.device.index if x.device.index is not None else torch.cuda.current_device()))
    return int(torch.cuda.current_stream(x.device).cuda_stream)


def _cai_stream(x: Any) -> Optional[int]:
    cai = getattr(x, "__cuda_array_interface__", None) if not _torch_tensor(x) else None
    return cai.get("stream") if isinstance(cai, dict) else None


class Session:
    """Runs an engine. Made by :meth:`Engine.static_session` or :meth:`Engine.dynamic_session`.

    Call it with one array for a single-input engine (``session(x)``), or with a dict (``session.run({"input":
    x})``). NumPy arrays in give NumPy arrays out (host path: copied through pinned buffers, synchronised).
    CUDA tensors in (torch, or anything with ``__cuda_array_interface__``) give CUDA tensors out without copies
    (device path): outputs are new ``torch.empty`` tensors on the inputs' device, or the ``out=`` tensors; the run
    is queued on torch's current stream (or ``stream=``), not synchronised. One session per thread.
    Use ``close()`` or ``with`` to release its GPU memory now; a closed session raises :class:`UsageError`.
    """

    def __init__(self, engine: Any, handle: ctypes.c_void_p, dynamic: bool, stream: Any) -> None:
        self.engine = engine
        self._handle: Optional[ctypes.c_void_p] = handle
        self.dynamic = dynamic
        self._stream = stream_handle(stream)
        self._input_names = [i.name for i in engine.inputs]
        self._outputs = {o.name: o for o in engine.outputs}
        self._last_device: Optional[Tuple[Any, Any, Any, List[Any]]] = None
        # session(x, out=y) called again with the very same torch tensors (same memory, shape, dtype, still
        # contiguous) on torch's current stream: the C arrays of the last call are reused without rebuilding.
        self._fast: Optional[Tuple[Any, ...]] = None

    # ---- lifetime ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Releases the session's GPU memory and graphs. Further use raises :class:`UsageError`."""
        h, self._handle = self._handle, None
        self._fast = self._last_device = None
        if h:
            _lib.lib().kiln_session_destroy(h)

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        h, self._handle = getattr(self, "_handle", None), None
        if h and _lib._lib is not None:
            _lib._lib.kiln_session_destroy(h)

    def _live(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise UsageError("the session is closed")
        return self._handle

    # ---- shapes ------------------------------------------------------------------------------------
    def set_input_shape(self, name: str, shape: Sequence[int]) -> None:
        """Dynamic sessions: the input's shape for the next runs (kiln checks it against the profile)."""
        dims = (ctypes.c_int64 * max(len(shape), 1))(*[int(d) for d in shape])
        _lib.check(_lib.lib().kiln_session_set_input_shape(self._live(), name.encode(), dims, len(shape)))

    def _dims(self, fn: Any, name: str) -> Tuple[int, ...]:
        dims = (ctypes.c_int64 * _MAX_RANK)()
        ndim = ctypes.c_int32()
        _lib.check(fn(self._live(), name.encode(), dims, _MAX_RANK, ctypes.byref(ndim)))
        return tuple(dims[i] for i in range(ndim.value))

    def input_shape(self, name: str) -> Tuple[int, ...]:
        """The input's shape at the session's current shapes."""
        return self._dims(_lib.lib().kiln_session_input_dims, name)

    def output_shape(self, name: str) -> Tuple[int, ...]:
        """The output's shape at the session's current input shapes."""
        return self._dims(_lib.lib().kiln_session_output_dims, name)

    # ---- running -----------------------------------------------------------------------------------
    def _feeds(self, args: Tuple[Any, ...], named: Dict[str, Any]) -> Dict[str, Any]:
        if len(args) == 1 and isinstance(args[0], Mapping):
            return {**dict(args[0]), **named}
        if args and len(args) != len(self._input_names):
            raise UsageError("the engine has %d inputs (%s); %d positional arrays given (or pass a dict)"
                             % (len(self._input_names), ", ".join(self._input_names), len(args)))
        return {**dict(zip(self._input_names, args)), **named}

    def __call__(self, *args: Any, out: Any = None, stream: Any = None, **named: Any) -> Any:
        """``session(x)`` / ``session(a, b)`` (inputs in engine order) / ``session(input=x)``. Returns the output
        when the engine has one, else a dict name -> array. ``out``: the output tensor (or a dict of them)."""
        fast = self._fast
        if fast is not None and len(args) == 1 and not named and stream is None and self._handle is not None:
            x = args[0]
            if (x is fast[0] and out is fast[1] and x.data_ptr() == fast[2] and out.data_ptr() == fast[3]
                    and x.shape == fast[4] and out.shape == fast[5] and x.dtype is fast[6] and out.dtype is fast[7]
                    and x.is_contiguous() and out.is_contiguous()):
                code = fast[8](self._handle, fast[9], 1, fast[10], 1, _torch_current_stream(x))
                if code:
                    _lib.check(code)
                return out
        self._fast = None
        result = self.run(self._feeds(args, named), out=out, stream=stream)
        if (len(args) == 1 and not named and stream is None and self._stream is None and len(self._input_names) == 1
                and len(self._outputs) == 1 and _torch_tensor(args[0]) and _torch_tensor(out) and args[0].is_cuda
                and out.is_cuda and self._last_device is not None):
            x = args[0]
            _, c_in, c_out, keep = self._last_device
            self._fast = (x, out, x.data_ptr(), out.data_ptr(), x.shape, out.shape, x.dtype, out.dtype,
                          _lib.lib().kiln_session_run_device, c_in, c_out, keep)
        return next(iter(result.values())) if len(result) == 1 else result

    def run(self, feeds: Mapping[str, Any], out: Any = None, stream: Any = None) -> Dict[str, Any]:
        """Runs once on ``feeds`` (name -> array). Device path when any input or ``out`` is a CUDA tensor."""
        self._live()
        if not isinstance(feeds, Mapping):
            raise UsageError("feeds must be a dict of input name -> array, got %s" % type(feeds).__name__)
        outs = self._out_map(out)
        if any(_is_device(v) for v in feeds.values()) or any(_is_device(v) for v in outs.values()):
            return self.run_device(feeds, outs, stream)
        return self._run_host(feeds, outs)

    def _out_map(self, out: Any) -> Dict[str, Any]:
        if out is None:
            return {}
        if isinstance(out, Mapping):
            return dict(out)
        if len(self._outputs) != 1:
            raise UsageError("the engine has %d outputs (%s): pass out= as a dict"
                             % (len(self._outputs), ", ".join(self._outputs)))
        return {next(iter(self._outputs)): out}

    def _tensor_array(self, items: List[Tuple[str, str, Sequence[int], int]], keep: List[Any]) -> Any:
        """A ``kiln_tensor[]`` for the C call; `keep` holds every buffer it points into."""
        arr = (_lib.Tensor * max(len(items), 1))()
        for i, (name, dtype, shape, ptr) in enumerate(items):
            dims = (ctypes.c_int64 * max(len(shape), 1))(*shape)
            name_b, dtype_b = name.encode(), dtype.encode()
            keep += [dims, name_b, dtype_b]
            arr[i] = _lib.Tensor(name_b, dtype_b, len(shape), dims, ptr)
        return arr

    def _prepare_outputs(self, shapes: Mapping[str, Sequence[int]], outs: Dict[str, Any], make: Any) -> None:
        """Allocates the outputs not given, at the output shapes for these inputs (set first when dynamic)."""
        missing = [n for n in self._outputs if n not in outs]
        if not missing:
            return
        if self.dynamic:
            for name, shape in shapes.items():
                self.set_input_shape(name, shape)
        for n in missing:
            outs[n] = make(n, self.output_shape(n))

    def _run_host(self, feeds: Mapping[str, Any], outs: Dict[str, Any]) -> Dict[str, Any]:
        import numpy as np

        arrays = {}
        for name, x in feeds.items():
            a = x.detach().numpy() if _torch_tensor(x) else np.asarray(x)
            arrays[name] = np.ascontiguousarray(a)
        for name, o in outs.items():
            if not isinstance(o, np.ndarray) or not o.flags.c_contiguous or not o.flags.writeable:
                raise UsageError("out '%s' must be a writeable C-contiguous numpy array (or a CUDA tensor for the "
                                 "device path)" % name)

        def make(name: str, shape: Tuple[int, ...]) -> Any:
            info = self._outputs[name]
            if info.dtype is None:
                raise UsageError("output '%s' is %s, which NumPy cannot hold; use CUDA torch tensors"
                                 % (name, info.dtype_name))
            return np.empty(shape, dtype=info.dtype)

        self._prepare_outputs({n: a.shape for n, a in arrays.items()}, outs, make)
        keep: List[Any] = []
        ins = [(n, a.dtype.name, a.shape, a.ctypes.data) for n, a in arrays.items()]
        ots = [(n, o.dtype.name, o.shape, o.ctypes.data) for n, o in outs.items()]
        _lib.check(_lib.lib().kiln_session_run_host(self._live(), self._tensor_array(ins, keep), len(ins),
                                                    self._tensor_array(ots, keep), len(ots)))
        return {n: outs[n] for n in self._outputs if n in outs}

    def run_device(self, feeds: Mapping[str, Any], out: Any = None, stream: Any = None) -> Dict[str, Any]:
        """The device path only: inputs and outputs must be GPU memory (host memory is refused by kiln with
        :class:`BadInputError`). Queued on ``stream``, else the session's stream if it was given one, else torch's
        current stream of the inputs' device; no synchronisation."""
        self._live()
        outs = self._out_map(out)
        views = {n: _device_view(n, x, "input") for n, x in feeds.items()}
        first = next(iter(feeds.values()), None)

        def make(name: str, shape: Tuple[int, ...]) -> Any:
            import torch  # only the device path without out= needs torch

            info = self._outputs[name]
            device = first.device if _torch_tensor(first) else torch.device("cuda", torch.cuda.current_device())
            return torch.empty(shape, dtype=getattr(torch, info.dtype_name), device=device)

        self._prepare_outputs({n: v[1] for n, v in views.items()}, outs, make)
        handle = stream_handle(stream)
        if handle is None:
            handle = self._stream
        if handle is None:
            if _torch_tensor(first) and first.is_cuda:
                handle = _torch_current_stream(first)
            else:
                handle = _cai_stream(first) or 0
        ins = tuple((n, v[0], v[1], v[2]) for n, v in views.items())
        ots = tuple((n,) + _device_view(n, o, "output") for n, o in outs.items())
        # A loop over the same tensors (session(x, out=y)) reuses the C arrays of the previous call.
        key = (ins, ots)
        if self._last_device is None or self._last_device[0] != key:
            keep: List[Any] = []
            self._last_device = (key, self._tensor_array(list(ins), keep), self._tensor_array(list(ots), keep), keep)
        _, c_in, c_out, _ = self._last_device
        _lib.check(_lib.lib().kiln_session_run_device(self._live(), c_in, len(ins), c_out, len(ots), handle))
        return {n: outs[n] for n in self._outputs if n in outs}

    def __repr__(self) -> str:
        return "kiln.Session(%s, %s)" % ("dynamic" if self.dynamic else "static", "closed" if self.closed else "open")
