/* kiln's C ABI (libkiln.so): a thin skin over the C++ engine API for Python (ctypes) and other languages.
 * Opaque handles, int status codes, a thread-local error message; nothing throws or aborts across it.
 *
 * Status codes (kiln::StatusCode, also the CLI's exit codes): 0 ok, 1 usage (bad argument), 2 bad input
 * (model, plan, data or file), 3 unsupported, 4 accuracy check failed, 5 runtime / GPU.
 * After a non-zero status, kiln_last_error() says what went wrong (valid until the next call on this thread).
 * Strings returned through `char**` are malloc'ed; release them with kiln_free_string().
 * Every function is safe to call from several threads on different handles; one session is used by one thread
 * at a time. Engines may be shared by sessions on several threads. */
#ifndef KILN_KILN_H_
#define KILN_KILN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_ABI_VERSION 1

#define KILN_OK 0
#define KILN_ERROR_USAGE 1
#define KILN_ERROR_BAD_INPUT 2
#define KILN_ERROR_UNSUPPORTED 3
#define KILN_ERROR_ACCURACY 4
#define KILN_ERROR_RUNTIME 5

typedef struct kiln_engine kiln_engine;
typedef struct kiln_session kiln_session;

/* One tensor passed to a run: `name` an engine input/output, `dtype` the NumPy name of its element type
 * ("float32", "float16", "bfloat16", "int64", ...), `dims` its shape (ndim entries), `data` a dense C-order
 * buffer in host memory (kiln_session_run_host) or device memory (kiln_session_run_device). */
typedef struct kiln_tensor {
  const char* name;
  const char* dtype;
  int32_t ndim;
  const int64_t* dims;
  void* data;
} kiln_tensor;

/* "0.1.0 (git sha)"; never fails, never null. */
const char* kiln_version(void);
/* KILN_ABI_VERSION of the library (callers check it against the header they were written for). */
int kiln_abi_version(void);
/* The message of the last failed call on this thread ("" when none). */
const char* kiln_last_error(void);
void kiln_free_string(char* s);

/* *available = 1 when a CUDA device is usable; otherwise 0 and *why (may be null) says why (malloc'ed). */
int kiln_cuda_available(int* available, char** why);

/* Builds an engine from an ONNX file. `options_json` (null or "" for the defaults) is a JSON object with any of:
 *   "precision": "fp32"|"tf32"|"fp16"|"bf16"                        (default fp32)
 *   "shapes": {"input": [1,3,224,224], ...}                          static engine: sizes of symbolic dims
 *   "profiles": [{"min": {...}, "opt": {...}, "max": {...}}, ...]    dynamic engine (shape maps as "shapes")
 *   "layer_precisions": {"node": "fp32", ...}
 *   "input_io_formats": ["fp16", ...], "output_io_formats": [...]    engine I/O dtypes, one per input/output
 *   "workspace_mib": 1024                                            (default 256)
 *   "timing_cache": "cache.bin"                                      read if present, written after the build
 *   "optimization_level": 0..5                                       (default 3)
 *   "tune": true|false                                               (false: heuristics only)
 * Unknown keys and wrongly typed values are usage errors naming the key. */
int kiln_engine_build(const char* onnx_path, const char* options_json, kiln_engine** engine);
/* Loads a plan (refuses corrupt files and plans of another GPU or library version, saying which). */
int kiln_engine_load(const char* plan_path, kiln_engine** engine);
/* Writes the plan atomically. */
int kiln_engine_save(const kiln_engine* engine, const char* plan_path);
/* The engine as JSON: precision, gpu_name, sm, inputs/outputs ({name, dtype, dims with -1 for dynamic dims}),
 * profiles ([{min, opt, max}] shape maps), layers, weight/activation/workspace bytes, build_seconds. */
int kiln_engine_info_json(const kiln_engine* engine, char** json);
/* Null is accepted. Sessions keep the engine alive: it may be destroyed before them. */
void kiln_engine_destroy(kiln_engine* engine);

/* A plan file's header without a GPU: the `kiln info model.plan --json` document (schema kiln.plan-info/1). */
int kiln_plan_info_json(const char* plan_path, char** json);

/* Sessions. `stream` is a cudaStream_t (null: the session creates its own non-blocking stream).
 * Static: `shapes_json` ({"input": [8,3,224,224]} or null) fixes the shapes; required for dynamic engines.
 * Dynamic: shapes are set per run within optimization profile `profile`. */
int kiln_session_create_static(kiln_engine* engine, void* stream, const char* shapes_json, kiln_session** session);
int kiln_session_create_dynamic(kiln_engine* engine, void* stream, int profile, kiln_session** session);
/* Dynamic sessions: the input's shape for the next runs (checked against the profile: the message names the
 * input, the dims and the range). Static sessions accept only their own shape. */
int kiln_session_set_input_shape(kiln_session* session, const char* name, const int64_t* dims, int32_t ndim);
/* Dims at the current shapes. `capacity` entries of `dims` are available; *ndim receives the rank. */
int kiln_session_input_dims(kiln_session* session, const char* name, int64_t* dims, int32_t capacity, int32_t* ndim);
int kiln_session_output_dims(kiln_session* session, const char* name, int64_t* dims, int32_t capacity,
                             int32_t* ndim);
/* Host buffers: copies the inputs into the session's pinned buffers, runs, copies the outputs out and waits.
 * Every input must be given; outputs not given are not copied. Dynamic sessions take the input shapes from
 * `inputs`; every tensor's dtype and dims are checked against the engine (kBadInput naming the tensor). */
int kiln_session_run_host(kiln_session* session, const kiln_tensor* inputs, size_t num_inputs,
                          const kiln_tensor* outputs, size_t num_outputs);
/* Device buffers, no host transfers and no synchronisation: the run is ordered on `stream` (a cudaStream_t; null
 * is the legacy default stream) — it waits for work already queued there, and later work queued there waits for
 * it. The same checks as kiln_session_run_host, and host memory is refused. */
int kiln_session_run_device(kiln_session* session, const kiln_tensor* inputs, size_t num_inputs,
                            const kiln_tensor* outputs, size_t num_outputs, void* stream);
/* Null is accepted. */
void kiln_session_destroy(kiln_session* session);

/* Runs `kiln compare`, `kiln bench` or `kiln accuracy` in process: argv[0] is the command, the rest its CLI flags
 * (as on the command line, without --json). *json receives the JSON document the CLI writes with --json (also
 * when the command fails after writing it, e.g. compare's accuracy failure, status 4); null when none was
 * written. The command's text output goes to this process's stdout/stderr as in the CLI. */
int kiln_command_json(int argc, const char* const* argv, char** json);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KILN_H_ */
