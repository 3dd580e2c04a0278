"""``kiln compare``, ``kiln bench`` and ``kiln accuracy`` in process, returning the JSON documents the CLI writes
with ``--json`` (schemas kiln.compare/1, kiln.bench/1, kiln.accuracy/1) as dicts.

Keyword arguments become the CLI's flags (docs/CLI.md): ``snake_case`` names are written in the CLI's camelCase
(``no_data_transfers=True`` -> ``--noDataTransfers``, ``warm_up=200`` -> ``--warmUp 200``), ``True`` gives a bare
flag and ``False``/``None`` omits it, lists repeat the flag, and shape maps ``{"input": (1, 3, 224, 224)}`` are
written ``input:1x3x224x224``. kiln checks them exactly as on the command line.
"""

import ctypes
import json
import os
from typing import Any, Dict, List, Mapping

from . import _lib
from .errors import UsageError


def _flag_name(key: str) -> str:
    head, *rest = key.split("_")
    return "--" + head + "".join(w[:1].upper() + w[1:] for w in rest)


def _value(v: Any) -> str:
    if isinstance(v, Mapping):  # shape map
        return ",".join("%s:%s" % (k, "x".join(str(int(d)) for d in dims)) for k, dims in v.items())
    if isinstance(v, (str, bytes, os.PathLike)):
        return os.fsdecode(v)
    return str(v)


def _argv(command: str, model: Any, flags: Dict[str, Any]) -> List[str]:
    argv = [command, _value(model)]
    for key, v in flags.items():
        if v is None or v is False:
            continue
        name = _flag_name(key)
        if v is True:
            argv.append(name)
        elif isinstance(v, (list, tuple)):
            for item in v:
                argv += [name, _value(item)]
        else:
            argv += [name, _value(v)]
    return argv


def run_command(command: str, model: Any, **flags: Any) -> Dict[str, Any]:
    """Runs a kiln subcommand with a JSON document in process and returns the document."""
    if not isinstance(model, (str, bytes, os.PathLike)):
        raise UsageError("model must be a path, got %s" % type(model).__name__)
    args = _argv(command, model, flags)
    argv = (ctypes.c_char_p * len(args))(*[a.encode() for a in args])
    out = ctypes.c_void_p()
    code = _lib.lib().kiln_command_json(len(args), argv, ctypes.byref(out))
    text = _lib.take_string(out)
    document = json.loads(text) if text else None
    _lib.check(code, document)
    return document if document is not None else {}


def compare(model: Any, backends: str = None, **flags: Any) -> Dict[str, Any]:
    """``kiln compare MODEL --backends ...``: runs the model on several backends with the same inputs and checks
    them against the first. Returns the kiln.compare/1 document; raises :class:`AccuracyError` (its
    ``document`` holds the report) when outputs differ beyond the tolerance."""
    return run_command("compare", model, backends=backends, **flags)


def bench(model: Any, **flags: Any) -> Dict[str, Any]:
    """``kiln bench MODEL ...``: times the model (e.g. ``backend="cuda", precision="fp16", batches="1,8"``);
    returns the kiln.bench/1 document."""
    return run_command("bench", model, **flags)


def accuracy(model: Any, **flags: Any) -> Dict[str, Any]:
    """``kiln accuracy MODEL --dataset ... --labels ...``: top-k accuracy per backend; returns the
    kiln.accuracy/1 document."""
    return run_command("accuracy", model, **flags)
