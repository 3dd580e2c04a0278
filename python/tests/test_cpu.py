"""The kiln Python package on a machine without a GPU: import, version, plan introspection of a plan written
here by an independent Python implementation of the plan format (docs/PLAN_FORMAT.md), kiln's errors for
missing / corrupt files and for building without a GPU, argument conversion and checking, and kiln.compare /
kiln.bench returning the CLI's documents. Run by ctest (python_cpu_tests) with KILN_LIBRARY and KILN_CLI set."""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import kiln  # noqa: E402
from kiln import session as kiln_session  # noqa: E402
from kiln.commands import _argv  # noqa: E402

CLI = os.environ.get("KILN_CLI", str(Path(__file__).resolve().parents[2] / "build" / "bin" / "kiln"))


def write_plan(path, header, model=b"model bytes", version=1):
    """A plan file as docs/PLAN_FORMAT.md lays it out: magic, u32 version, u64 header length, header JSON, u64
    model length, model, u32 CRC-32 of everything before it (little endian)."""
    h = json.dumps(header).encode()
    body = b"KILNPLAN" + struct.pack("<IQ", version, len(h)) + h + struct.pack("<Q", len(model)) + model
    Path(path).write_bytes(body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF))


HEADER = {
    "env": {"gpu_name": "Test GPU 80GB", "sm": 90, "cuda_runtime": 12080, "cudnn": 91400, "cublas": 120900,
            "kiln_version": "0.1.0", "git_sha": "abc"},
    "precision": "fp16",
    "profiles": [{"min": {"input": [1, 3, 32, 32]}, "opt": {"input": [8, 3, 32, 32]},
                  "max": {"input": [16, 3, 32, 32]}}],
    "layer_precisions": {},
    "workspace_limit": 268435456,
    "layers": [{"key": "conv1", "op": "kiln.FusedConv", "precision": "fp16", "tactic": "cudnn:algo=1"}],
    "memory": {"weight_bytes": 1234, "activation_bytes": 5678, "workspace_bytes": 0},
    "inputs": [{"name": "input", "dtype": "float32", "dims": [-1, 3, 32, 32]}],
    "outputs": [{"name": "logits", "dtype": "float32", "dims": [-1, 10]}],
}


def zoo(path, seed=0):
    subprocess.run([CLI, "zoo", "tiny_cnn", "-o", str(path), "--seed", str(seed)], check=True,
                   stdout=subprocess.DEVNULL)


class KilnCpuTest(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="kiln_py_"))
        self.gpu, _ = kiln.cuda_available()

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_import_works_without_the_library(self):
        env = dict(os.environ, KILN_LIBRARY=str(self.dir / "nope.so"), PYTHONPATH=str(Path(kiln.__file__).parents[1]))
        code = ("import kiln\n"
                "try:\n    kiln.version()\nexcept kiln.KilnRuntimeError as e:\n    print('ERR', e)\n")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("ERR KILN_LIBRARY=", out.stdout)
        self.assertIn("nope.so: no such file", out.stdout)

    def test_version_is_the_clis(self):
        cli = subprocess.run([CLI, "--version"], capture_output=True, text=True, check=True).stdout.strip()
        self.assertEqual("kiln " + kiln.version(), cli)

    def test_plan_info_reads_a_plan_without_gpu(self):
        write_plan(self.dir / "m.plan", HEADER)
        info = kiln.plan_info(self.dir / "m.plan")
        self.assertEqual(info["schema"], "kiln.plan-info/1")
        self.assertEqual(info["format_version"], 1)
        self.assertEqual(info["model_bytes"], len(b"model bytes"))
        h = info["header"]
        self.assertEqual(h["precision"], "fp16")
        self.assertEqual(h["env"]["gpu_name"], "Test GPU 80GB")
        self.assertEqual(h["inputs"], HEADER["inputs"])
        self.assertEqual(h["outputs"], HEADER["outputs"])
        self.assertEqual(h["profiles"], HEADER["profiles"])
        self.assertEqual(h["layers"][0]["tactic"], "cudnn:algo=1")

    def test_corrupt_and_truncated_plans_are_bad_input(self):
        write_plan(self.dir / "m.plan", HEADER)
        data = (self.dir / "m.plan").read_bytes()
        (self.dir / "cut.plan").write_bytes(data[:-9])
        with self.assertRaises(kiln.BadInputError) as e:
            kiln.plan_info(self.dir / "cut.plan")
        self.assertIn("truncated", str(e.exception))
        self.assertEqual(e.exception.code, 2)
        (self.dir / "text.plan").write_text("hello, not a plan")
        with self.assertRaisesRegex(kiln.BadInputError, "not a kiln plan"):
            kiln.plan_info(self.dir / "text.plan")
        with self.assertRaisesRegex(kiln.BadInputError, "not a kiln plan"):
            kiln.load(self.dir / "text.plan")
        write_plan(self.dir / "v9.plan", HEADER, version=9)
        with self.assertRaisesRegex(kiln.BadInputError, "format version 9"):
            kiln.plan_info(self.dir / "v9.plan")

    def test_missing_files_are_bad_input(self):
        with self.assertRaisesRegex(kiln.BadInputError, "no such plan file"):
            kiln.plan_info(self.dir / "missing.plan")
        with self.assertRaisesRegex(kiln.BadInputError, "cannot open the plan"):
            kiln.load(self.dir / "missing.plan")
        with self.assertRaisesRegex(kiln.BadInputError, "no such model file"):
            kiln.build(self.dir / "missing.onnx", precision="fp16")

    def test_corrupt_onnx_is_bad_input(self):
        (self.dir / "bad.onnx").write_bytes(b"\x08\x07\x12\xff\xff\xff not a model proto")
        with self.assertRaises(kiln.BadInputError) as e:
            kiln.build(self.dir / "bad.onnx", precision="fp16")
        self.assertIn("bad.onnx", e.exception.message)
        self.assertIsInstance(e.exception, ValueError)

    def test_build_without_gpu_is_a_runtime_error(self):
        if self.gpu:
            self.skipTest("a GPU is present")
        zoo(self.dir / "tiny.onnx")
        with self.assertRaises(kiln.KilnRuntimeError) as e:
            kiln.build(self.dir / "tiny.onnx", precision="fp16")
        self.assertIn("cannot build a CUDA engine", str(e.exception))
        self.assertEqual(e.exception.code, 5)
        self.assertIsInstance(e.exception, RuntimeError)  # the builtin, too
        with self.assertRaisesRegex(kiln.KilnRuntimeError, "cannot load a CUDA engine"):
            write_plan(self.dir / "m.plan", HEADER)
            kiln.load(self.dir / "m.plan")

    def test_build_options_are_checked_by_kiln(self):
        model = self.dir / "missing.onnx"  # options are checked before the model is read
        with self.assertRaisesRegex(kiln.UsageError, "'workspace_mib' must be a number"):
            kiln.build(model, workspace_mib="big")
        with self.assertRaisesRegex(kiln.UsageError, "'precision' must be a string"):
            kiln.build(model, precision=16)
        with self.assertRaisesRegex(kiln.UsageError, "'optimization_level' must be an integer"):
            kiln.build(model, optimization_level=2.5)
        with self.assertRaisesRegex(kiln.UsageError, "cannot be combined"):
            kiln.build(model, shapes={"x": (1, 3)}, profiles=[{"min": {"x": (1, 3)}, "opt": {"x": (1, 3)},
                                                                 "max": {"x": (2, 3)}}])
        with self.assertRaisesRegex(kiln.UsageError, "has key 'low'"):
            kiln.build(model, profiles=[{"low": {"x": (1, 3)}}])
        with self.assertRaisesRegex(kiln.UsageError, "sequences of ints"):
            kiln.build(model, shapes={"x": "abc"})
        with self.assertRaisesRegex(kiln.UsageError, "must be a path"):
            kiln.build(42)
        with self.assertRaisesRegex(kiln.UsageError, r"input_values\['k'\] must hold numbers"):
            kiln.build(model, input_values={"k": ["three"]})
        # Valid input values reach the model check (and then the missing file).
        with self.assertRaisesRegex(kiln.BadInputError, "missing.onnx"):
            kiln.build(model, input_values={"k": 3, "axes": (0, 2)})

    def test_argument_conversion_and_checks(self):
        argv = _argv("bench", Path("m.onnx"), {"backend": "cuda", "no_data_transfers": True, "dump_profile": False,
                                              "shapes": {"input": (8, 3, 224, 224)}, "warm_up": 200,
                                              "check": ["cosine:0.99", "top1:0.9"], "atol": None})
        self.assertEqual(argv, ["bench", "m.onnx", "--backend", "cuda", "--noDataTransfers", "--shapes",
                                "input:8x3x224x224", "--warmUp", "200", "--check", "cosine:0.99", "--check",
                                "top1:0.9"])
        with self.assertRaisesRegex(kiln.UsageError, "stream must be"):
            kiln_session.stream_handle("default")
        self.assertEqual(kiln_session.stream_handle(None), None)
        self.assertEqual(kiln_session.stream_handle(1234), 1234)

        class FakeCuda:  # a non-contiguous __cuda_array_interface__ (a transposed 4x6 float32 matrix)
            __cuda_array_interface__ = {"shape": (6, 4), "typestr": "<f4", "data": (4096, False),
                                        "strides": (4, 24), "version": 3}

        with self.assertRaisesRegex(kiln.UsageError, "input 'x' is not C-contiguous"):
            kiln_session._device_view("x", FakeCuda(), "input")

        class Contiguous:
            __cuda_array_interface__ = {"shape": (6, 4), "typestr": "<f2", "data": (4096, False),
                                        "strides": (8, 2), "version": 3}

        self.assertEqual(kiln_session._device_view("x", Contiguous(), "input"), ("float16", (6, 4), 4096))

    def test_session_conversion_reaches_the_c_calls(self):
        """The session's argument conversion, against a recording stand-in for libkiln.so (sessions need a GPU)."""
        import ctypes
        import numpy as np
        from kiln import _lib

        calls = []

        def tensors(arr, n):
            return [(arr[i].name.decode(), arr[i].dtype.decode(), tuple(arr[i].dims[k] for k in range(arr[i].ndim)),
                     arr[i].data) for i in range(n)]

        class FakeLib:
            def kiln_session_set_input_shape(self, h, name, dims, ndim):
                calls.append(("set", name.decode(), tuple(dims[i] for i in range(ndim))))
                return 0

            def kiln_session_output_dims(self, h, name, dims, cap, ndim):
                dims[0], dims[1] = 2, 5
                ndim._obj.value = 2
                return 0

            def kiln_session_run_host(self, h, ins, n_in, outs, n_out):
                calls.append(("host", tensors(ins, n_in), tensors(outs, n_out)))
                ctypes.memmove(outs[0].data, np.arange(10, dtype=np.float32).ctypes.data, 40)
                return 0

            def kiln_session_run_device(self, h, ins, n_in, outs, n_out, stream):
                calls.append(("device", tensors(ins, n_in), tensors(outs, n_out), stream, ctypes.addressof(ins)))
                return 0

            def kiln_session_destroy(self, h):
                calls.append(("destroy",))

        class FakeEngine:
            inputs = [kiln.TensorInfo("input", "float32", (-1, 3))]
            outputs = [kiln.TensorInfo("logits", "float32", (-1, 5))]

        class Cuda:
            def __init__(self, shape, typestr, ptr):
                self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (ptr, False),
                                                 "strides": None, "version": 3}

        saved = _lib.lib
        _lib.lib = lambda: FakeLib()
        s = kiln_session.Session(FakeEngine(), ctypes.c_void_p(1), dynamic=True, stream=None)
        try:
            x = np.ones((2, 3), dtype=np.float32)
            y = s(x)
            self.assertEqual(calls[0], ("set", "input", (2, 3)))
            kind, ins, outs = calls[1]
            self.assertEqual(kind, "host")
            self.assertEqual(ins, [("input", "float32", (2, 3), x.ctypes.data)])
            self.assertEqual(outs[0][:3], ("logits", "float32", (2, 5)))
            np.testing.assert_array_equal(y, np.arange(10, dtype=np.float32).reshape(2, 5))
            calls.clear()
            xin, yout = Cuda((2, 3), "<f4", 0x1000), Cuda((2, 5), "<f4", 0x2000)
            s(xin, out=yout)
            s(xin, out=yout, stream=77)
            self.assertEqual(calls[0][:4], ("device", [("input", "float32", (2, 3), 0x1000)],
                                            [("logits", "float32", (2, 5), 0x2000)], 0))
            self.assertEqual(calls[1][3], 77)
            self.assertEqual(calls[0][4], calls[1][4])  # same tensors: the C arrays are reused
            s(Cuda((1, 3), "<f4", 0x3000), out=Cuda((1, 5), "<f4", 0x4000))
            self.assertEqual(calls[2][1], [("input", "float32", (1, 3), 0x3000)])
            with self.assertRaisesRegex(kiln.UsageError, "2 positional arrays"):
                s(x, x)
            s.close()
            self.assertEqual(calls[-1], ("destroy",))
            with self.assertRaisesRegex(kiln.UsageError, "the session is closed"):
                s(x)
        finally:
            s._handle = None  # the fake handle never reaches the real library
            _lib.lib = saved

    def test_repeated_torch_calls_take_the_fast_path_and_leave_it_when_a_tensor_changes(self):
        """session(x, out=y) again with the same torch tensors reuses the C arrays (no rebuilding); new memory, a
        new shape or another stream is seen (a stand-in torch module and libkiln.so: this machine has no GPU)."""
        import ctypes
        import types
        from kiln import _lib

        calls = []
        streams = {"current": 11}

        class Dev:
            index = 0

        class FakeTensor:
            def __init__(self, shape, ptr, dtype="float32"):
                self.shape, self.ptr, self.dtype, self.is_cuda, self.device = tuple(shape), ptr, dtype, True, Dev()

            def data_ptr(self):
                return self.ptr

            def is_contiguous(self):
                return True

            def stride(self):
                return ()

        fake_torch = types.ModuleType("torch")
        fake_torch.Tensor = FakeTensor
        fake_torch._C = types.SimpleNamespace(_cuda_getCurrentRawStream=lambda index: streams["current"])

        class FakeLib:
            def kiln_session_run_device(self, h, ins, n_in, outs, n_out, stream):
                calls.append((ins[0].data, outs[0].data, tuple(ins[0].dims[k] for k in range(ins[0].ndim)), stream,
                              ctypes.addressof(ins)))
                return 0

            def kiln_session_destroy(self, h):
                pass

        class FakeEngine:
            inputs = [kiln.TensorInfo("input", "float32", (-1, 3))]
            outputs = [kiln.TensorInfo("logits", "float32", (-1, 5))]

        saved_lib, saved_torch = _lib.lib, sys.modules.get("torch")
        _lib.lib = lambda: FakeLib()
        sys.modules["torch"] = fake_torch
        s = kiln_session.Session(FakeEngine(), ctypes.c_void_p(1), dynamic=True, stream=None)
        try:
            x, y = FakeTensor((2, 3), 0x1000), FakeTensor((2, 5), 0x2000)
            self.assertIs(s(x, out=y), y)
            self.assertIsNotNone(s._fast)
            self.assertIs(s(x, out=y), y)  # the fast path
            self.assertEqual(calls[0][:4], (0x1000, 0x2000, (2, 3), 11))
            self.assertEqual(calls[1], calls[0])  # same C arrays, same stream
            streams["current"] = 12  # the caller switched streams: the fast path follows
            s(x, out=y)
            self.assertEqual(calls[2][3], 12)
            x.ptr = 0x3000  # the same tensor object now holds other memory: rebuilt, not stale
            s(x, out=y)
            self.assertEqual(calls[3][0], 0x3000)
            x.shape = (1, 3)  # resized in place
            y.shape = (1, 5)
            s(x, out=y)
            self.assertEqual(calls[4][2], (1, 3))
            s.close()
            self.assertIsNone(s._fast)
            with self.assertRaisesRegex(kiln.UsageError, "the session is closed"):
                s(x, out=y)
        finally:
            s._handle = None
            _lib.lib = saved_lib
            if saved_torch is None:
                del sys.modules["torch"]
            else:
                sys.modules["torch"] = saved_torch

    def test_compare_returns_the_cli_document(self):
        zoo(self.dir / "a.onnx")
        doc = kiln.compare(self.dir / "a.onnx", backends="cpu,cpu:opt", seed=3)
        cli_json = self.dir / "cli.json"
        subprocess.run([CLI, "compare", str(self.dir / "a.onnx"), "--backends", "cpu,cpu:opt", "--seed", "3",
                        "--json", str(cli_json)], check=True, capture_output=True)
        cli = json.loads(cli_json.read_text())
        self.assertEqual(doc["schema"], "kiln.compare/1")
        self.assertTrue(doc["passed"])
        self.assertEqual(doc["pairs"], cli["pairs"])

    def test_compare_failure_is_an_accuracy_error_with_the_document(self):
        zoo(self.dir / "a.onnx", seed=0)
        zoo(self.dir / "b.onnx", seed=1)  # other weights: the outputs differ
        with self.assertRaises(kiln.AccuracyError) as e:
            kiln.compare(self.dir / "a.onnx", backends="cpu,cpu@%s" % (self.dir / "b.onnx"))
        self.assertIn("outputs differ beyond the tolerance", str(e.exception))
        self.assertEqual(e.exception.code, 4)
        self.assertIsNotNone(e.exception.document)
        self.assertFalse(e.exception.document["passed"])

    def test_bench_cpu_and_its_errors(self):
        zoo(self.dir / "a.onnx")
        doc = kiln.bench(self.dir / "a.onnx", backend="cpu", iterations=2, warm_up=0, duration=0)
        self.assertEqual(doc["schema"], "kiln.bench/1")
        with self.assertRaisesRegex(kiln.UsageError, "noSuchFlag"):
            kiln.bench(self.dir / "a.onnx", no_such_flag=3)
        with self.assertRaisesRegex(kiln.UsageError, "--json is chosen"):
            kiln.bench(self.dir / "a.onnx", json="x.json")


if __name__ == "__main__":
    unittest.main()
