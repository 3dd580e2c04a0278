"""Loading libkiln.so and declaring its C functions (include/kiln/kiln.h) for ctypes.

The library is found, in order, through the ``KILN_LIBRARY`` environment variable, as ``build/libkiln.so`` of
the source checkout this package lives in, or as ``libkiln.so`` next to this package. It is loaded at first use,
so ``import kiln`` always works; a missing library raises :class:`kiln.KilnRuntimeError` saying where it looked.
"""

import ctypes
import os
import threading
from pathlib import Path
from typing import Any, List, Optional

from .errors import AccuracyError, KilnRuntimeError, error_for

ABI_VERSION = 1


class Tensor(ctypes.Structure):
    """``kiln_tensor``: name, NumPy dtype name, dims and a host or device data pointer."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_char_p),
        ("ndim", ctypes.c_int32),
        ("dims", ctypes.POINTER(ctypes.c_int64)),
        ("data", ctypes.c_void_p),
    ]


_P = ctypes.c_void_p
_S = ctypes.c_char_p
_OUT_STR = ctypes.POINTER(ctypes.c_void_p)  # char** (kept as void* to free it ourselves)
_DIMS = ctypes.POINTER(ctypes.c_int64)
_SIGNATURES = {
    "kiln_version": (_S, []),
    "kiln_abi_version": (ctypes.c_int, []),
    "kiln_last_error": (_S, []),
    "kiln_free_string": (None, [_P]),
    "kiln_cuda_available": (ctypes.c_int, [ctypes.POINTER(ctypes.c_int), _OUT_STR]),
    "kiln_engine_build": (ctypes.c_int, [_S, _S, ctypes.POINTER(_P)]),
    "kiln_engine_load": (ctypes.c_int, [_S, ctypes.POINTER(_P)]),
    "kiln_engine_save": (ctypes.c_int, [_P, _S]),
    "kiln_engine_info_json": (ctypes.c_int, [_P, _OUT_STR]),
    "kiln_engine_destroy": (None, [_P]),
    "kiln_plan_info_json": (ctypes.c_int, [_S, _OUT_STR]),
    "kiln_session_create_static": (ctypes.c_int, [_P, _P, _S, ctypes.POINTER(_P)]),
    "kiln_session_create_dynamic": (ctypes.c_int, [_P, _P, ctypes.c_int, ctypes.POINTER(_P)]),
    "kiln_session_set_input_shape": (ctypes.c_int, [_P, _S, _DIMS, ctypes.c_int32]),
    "kiln_session_input_dims": (ctypes.c_int, [_P, _S, _DIMS, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)]),
    "kiln_session_output_dims": (ctypes.c_int, [_P, _S, _DIMS, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)]),
    "kiln_session_run_host": (ctypes.c_int, [_P, ctypes.POINTER(Tensor), ctypes.c_size_t,
                                             ctypes.POINTER(Tensor), ctypes.c_size_t]),
    "kiln_session_run_device": (ctypes.c_int, [_P, ctypes.POINTER(Tensor), ctypes.c_size_t,
                                               ctypes.POINTER(Tensor), ctypes.c_size_t, _P]),
    "kiln_session_destroy": (None, [_P]),
    "kiln_command_json": (ctypes.c_int, [ctypes.c_int, ctypes.POINTER(_S), _OUT_STR]),
}

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None


def candidates() -> List[Path]:
    """Where the library is looked for, in order."""
    found = []
    env = os.environ.get("KILN_LIBRARY")
    if env:
        found.append(Path(env))
    here = Path(__file__).resolve().parent
    found.append(here.parent.parent / "build" / "libkiln.so")  # python/kiln -> checkout/build
    found.append(here / "libkiln.so")
    return found


def lib() -> ctypes.CDLL:
    """The loaded library (loaded and checked on first use)."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = candidates()
        env = os.environ.get("KILN_LIBRARY")
        if env and not Path(env).is_file():
            raise KilnRuntimeError("KILN_LIBRARY=%s: no such file (build it with: ninja -C build kiln_shared)" % env)
        path = next((p for p in tried if p.is_file()), None)
        if path is None:
            raise KilnRuntimeError(
                "libkiln.so not found (looked at: %s); build it with 'ninja -C build kiln_shared' in the kiln "
                "checkout, or point KILN_LIBRARY at it" % ", ".join(str(p) for p in tried))
        try:
            loaded = ctypes.CDLL(str(path))
        except OSError as e:
            raise KilnRuntimeError("cannot load %s: %s" % (path, e)) from None
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(loaded, name)
            fn.restype = restype
            fn.argtypes = argtypes
        if loaded.kiln_abi_version() != ABI_VERSION:
            raise KilnRuntimeError("%s has C ABI version %d, this kiln package needs %d; rebuild or reinstall"
                                   % (path, loaded.kiln_abi_version(), ABI_VERSION))
        _lib = loaded
        return _lib


def check(code: int, document: Any = None) -> None:
    """Raises the exception of a non-zero kiln status, with kiln's message."""
    if code == 0:
        return
    message = (lib().kiln_last_error() or b"").decode("utf-8", "replace")
    if code == 4:
        raise AccuracyError(message, code, document)
    raise error_for(code, message)


def take_string(ptr: ctypes.c_void_p) -> Optional[str]:
    """The text of a malloc'ed char* returned by the library, which is then freed."""
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value).decode("utf-8", "replace")
    finally:
        lib().kiln_free_string(ptr)
