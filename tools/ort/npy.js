// NumPy .npy (v1-v3, little-endian, C order) and .npz (zip: stored or deflated members) reading and
// writing for run_ort.js, written so the ORT oracle needs nothing beyond onnxruntime-node itself.
'use strict';

const zlib = require('zlib');

// NumPy descr -> ORT tensor type and typed-array constructor. Bool is one byte per element in both.
const DTYPES = {
  '<f4': ['float32', Float32Array],
  '<f8': ['float64', Float64Array],
  '<f2': ['float16', Uint16Array],
  '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array],
  '<i2': ['int16', Int16Array],
  '|i1': ['int8', Int8Array],
  '<u8': ['uint64', BigUint64Array],
  '<u4': ['uint32', Uint32Array],
  '<u2': ['uint16', Uint16Array],
  '|u1': ['uint8', Uint8Array],
  '|b1': ['bool', Uint8Array],
};
const DESCR_OF = {};
for (const [descr, [type]] of Object.entries(DTYPES)) DESCR_OF[type] = descr;
DESCR_OF.float16 = '<f2';  // not uint16: the ORT type decides

class NpyError extends Error {}

function headerField(header, key, what) {
  const m = header.match(new RegExp(`'${key}'\\s*:\\s*('[^']*'|True|False|\\([^)]*\\))`));
  if (!m) throw new NpyError(`${what}: .npy header has no '${key}' (${header.trim()})`);
  return m[1];
}

// One .npy image -> {type, dims, data (a typed array over a fresh, aligned buffer)}.
function decodeNpy(buf, what) {
  if (buf.length < 10 || buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY')
    throw new NpyError(`${what}: not a .npy file (bad magic)`);
  const major = buf.readUInt8(6);
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > buf.length) throw new NpyError(`${what}: truncated .npy header`);
  const header = buf.toString('latin1', start, start + headerLen);
  let descr = headerField(header, 'descr', what).slice(1, -1);
  if (descr === '<b1' || descr === '=b1') descr = '|b1';
  if (descr === '<i1') descr = '|i1';
  if (descr === '<u1') descr = '|u1';
  if (!DTYPES[descr]) throw new NpyError(`${what}: dtype '${descr}' is not supported by the ORT runner`);
  if (headerField(header, 'fortran_order', what) !== 'False')
    throw new NpyError(`${what}: Fortran-order arrays are not supported`);
  const shapeText = headerField(header, 'shape', what).slice(1, -1);
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const [type, Ctor] = DTYPES[descr];
  const bytes = count * Ctor.BYTES_PER_ELEMENT;
  const dataStart = start + headerLen;
  if (dataStart + bytes > buf.length)
    throw new NpyError(`${what}: holds ${buf.length - dataStart} data bytes, shape (${dims}) needs ${bytes}`);
  const copy = new ArrayBuffer(bytes);
  new Uint8Array(copy).set(buf.subarray(dataStart, dataStart + bytes));
  return { type, dims, data: new Ctor(copy) };
}

function encodeNpy(type, dims, data) {
  const descr = DESCR_OF[type];
  if (!descr) throw new NpyError(`output type '${type}' has no .npy encoding in the ORT runner`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.writeUInt8(0x93, 0);
  pre.write('NUMPY', 1, 'latin1');
  pre.writeUInt8(1, 6);
  pre.writeUInt8(0, 7);
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), body]);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// Members in archive order: [{name (without .npy), type, dims, data}].
function decodeNpz(buf, what) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new NpyError(`${what}: not a zip/.npz archive (no end-of-central-directory record)`);
  const entries = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = [];
  for (let e = 0; e < entries; e++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) throw new NpyError(`${what}: corrupt central directory`);
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28), extraLen = buf.readUInt16LE(p + 30), commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (buf.readUInt32LE(local) !== 0x04034b50) throw new NpyError(`${what}: corrupt local header of '${name}'`);
    const dataStart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(dataStart, dataStart + csize);
    let member;
    if (method === 0) member = raw;
    else if (method === 8) member = zlib.inflateRawSync(raw);
    else throw new NpyError(`${what}: member '${name}' uses zip method ${method} (only stored and deflate)`);
    const base = name.endsWith('.npy') ? name.slice(0, -4) : name;
    out.push({ name: base, ...decodeNpy(member, `${base}.npy in ${what}`) });
  }
  return out;
}

// Stored (uncompressed) members "<name>.npy", as numpy.savez writes them.
function encodeNpz(members) {
  const locals = [], centrals = [];
  let offset = 0;
  for (const m of members) {
    const data = encodeNpy(m.type, m.dims, m.data);
    const name = Buffer.from(`${m.name}.npy`, 'utf8');
    const crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0x0800, 6);  // UTF-8 names
    lh.writeUInt16LE(0, 8);
    lh.writeUInt16LE(0, 10);
    lh.writeUInt16LE(0x21, 12);  // 1980-01-01
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(0, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt16LE(0, 10);
    ch.writeUInt16LE(0, 12);
    ch.writeUInt16LE(0x21, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, data);
    centrals.push(ch, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

module.exports = { decodeNpy, encodeNpy, decodeNpz, encodeNpz, NpyError };
