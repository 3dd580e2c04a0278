#!/usr/bin/env node
// kiln compare's `ort` backend on machines with Node: runs MODEL.onnx on ONNX Runtime (CPU) with the
// inputs of an .npz and writes every output to an .npz. Same file protocol as peers/ort_run.py.
//   node run_ort.js MODEL.onnx IN.npz OUT.npz [IN2.npz OUT2.npz ...]
//   (one session for every pair; exit 0 ok, 2 bad input, 3 unsupported, 5 runtime)
//   node run_ort.js --version                             (prints "onnxruntime-node X.Y.Z")
'use strict';

const fs = require('fs');
const path = require('path');
const { decodeNpz, encodeNpz, NpyError } = require('./npy.js');

function die(code, message) {
  process.stderr.write(`run_ort.js: error: ${message}\n`);
  process.exit(code);
}

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    die(5, `onnxruntime-node is not installed (run 'npm ci' in ${__dirname}): ${e.message.split('\n')[0]}`);
  }
}

function ortVersion() {
  const pkg = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'package.json');
  try {
    return JSON.parse(fs.readFileSync(pkg, 'utf8')).version;
  } catch (e) {
    return 'unknown';
  }
}

async function main(argv) {
  if (argv.length === 1 && argv[0] === '--version') {
    loadOrt();
    process.stdout.write(`onnxruntime-node ${ortVersion()}\n`);
    return;
  }
  if (argv.length < 3 || argv.length % 2 !== 1) die(1, 'usage: run_ort.js MODEL.onnx IN.npz OUT.npz [IN2.npz OUT2.npz ...]');
  const modelPath = argv[0];
  const ort = loadOrt();
  if (!fs.existsSync(modelPath)) die(2, `${modelPath}: no such file`);
  let session;
  // Single-threaded intra-op work keeps results deterministic and the shared CI machine calm.
  const options = { intraOpNumThreads: 1, interOpNumThreads: 1 };
  try {
    session = await ort.InferenceSession.create(modelPath, options);
  } catch (e) {
    // ORT's graph rewrites can refuse a valid model that its kernels run as written (its QDQ fusions want
    // scalar scales; PyTorch's QAT export writes 1-element ones): run it unoptimized, and say so.
    try {
      session = await ort.InferenceSession.create(modelPath, { ...options, graphOptimizationLevel: 'disabled' });
      process.stderr.write(`run_ort: ONNX Runtime's graph optimizations refused ${modelPath} ` +
                           `(${e.message.split('\n')[0]}); running it with them disabled\n`);
    } catch (e2) {
      die(3, `ONNX Runtime cannot load ${modelPath}: ${e.message.split('\n')[0]}`);
    }
  }
  for (let i = 1; i < argv.length; i += 2) await runOne(ort, session, modelPath, argv[i], argv[i + 1]);
}

async function runOne(ort, session, modelPath, inputsPath, outputsPath) {
  if (!fs.existsSync(inputsPath)) die(2, `${inputsPath}: no such file`);
  let members;
  try {
    members = decodeNpz(fs.readFileSync(inputsPath), inputsPath);
  } catch (e) {
    die(e instanceof NpyError ? 2 : 5, e.message);
  }
  const feeds = {};
  for (const m of members) {
    if (!session.inputNames.includes(m.name))
      die(2, `${inputsPath} member '${m.name}' is not an input of ${modelPath} (inputs: ${session.inputNames.join(', ')})`);
    feeds[m.name] = new ort.Tensor(m.type, m.data, m.dims);
  }
  for (const name of session.inputNames)
    if (!feeds[name]) die(2, `${inputsPath} has no member for input '${name}'`);

  let results;
  try {
    results = await session.run(feeds);
  } catch (e) {
    die(5, `ONNX Runtime failed to run ${modelPath}: ${e.message.split('\n')[0]}`);
  }
  const out = session.outputNames.map((name) => {
    const t = results[name];
    return { name, type: t.type, dims: t.dims, data: t.data };
  });
  let bytes;
  try {
    bytes = encodeNpz(out);
  } catch (e) {
    die(3, e.message);
  }
  const tmp = `${outputsPath}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, outputsPath);
}

main(process.argv.slice(2)).catch((e) => die(5, e.stack || String(e)));
