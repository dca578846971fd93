#!/usr/bin/env node
// A TFLite judge for tests: runs a .tflite file with Google's LiteRT.js (@litertjs/core: LiteRT compiled to
// WebAssembly, CPU kernels by XNNPACK), in Node 18+.
//
// Speaks ModelBuild's MODELBUILD_TFLITE_RUNTIME protocol: node litert_run.mjs MODEL.tflite INPUTS.npz OUTPUTS.npz.
// Each input array in INPUTS.npz holds samples stacked on axis 0, in the file's layout and element type; each sample
// is run alone (the file has batch 1), and every signature output is written to OUTPUTS.npz stacked the same way.
// Prints "runtime: ..." first. LiteRT.js is independent of ModelBuild's writer and of Arm NN: it is Google's own
// flatbuffer reader and kernels (TFLite's built-in ops, XNNPACK where it takes the graph).
//
// Setup (once): cd testassets/tflite && npm install   (installs @litertjs/core into ./node_modules)
//
// Notes:
// - LiteRT.js's loader is written for a browser (it runs its Emscripten script with importScripts or a <script> tag),
//   so a few globals are provided below (self, importScripts) and the script gets Node's require/__dirname.
// - The package's JS Tensor/CompiledModel classes only know float32, int32 and uint8 (they throw on an INT8 input
//   while listing a model's inputs), so this runs the model through the same Wasm bindings those classes use
//   (loadModel, compileModel, LiteRtTensorBuffer), which take any element type: int8-I/O files work too.
// - .npz files are read and written here: a zip of .npy files; read stored or deflated (zip64 fields understood),
//   written stored.

import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInThisContext } from 'node:vm';
import { inflateRawSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));

function fail(message) {
  process.stderr.write(`litert_run: ${message}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------------------------
// .npy / .npz

/** numpy descr (without byte-order mark) -> element size and typed array (null: bytes kept as they are). */
const NPY_KINDS = {
  f4: { size: 4, array: Float32Array }, f8: { size: 8, array: Float64Array }, f2: { size: 2, array: Uint16Array },
  i1: { size: 1, array: Int8Array }, u1: { size: 1, array: Uint8Array }, b1: { size: 1, array: Uint8Array },
  i2: { size: 2, array: Int16Array }, u2: { size: 2, array: Uint16Array },
  i4: { size: 4, array: Int32Array }, u4: { size: 4, array: Uint32Array },
  i8: { size: 8, array: BigInt64Array }, u8: { size: 8, array: BigUint64Array },
};

/** Parses one .npy: returns { descr ('f4', 'i1', ...), shape, bytes (a copy, little-endian, C order) }. */
function parseNpy(buf, what) {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (buf.length < 10 || magic.some((b, i) => buf[i] !== b)) throw new Error(`${what}: not a .npy array`);
  const major = buf[6];
  let headerLength, headerStart;
  if (major === 1) { headerLength = buf.readUInt16LE(8); headerStart = 10; }
  else if (major === 2 || major === 3) { headerLength = buf.readUInt32LE(8); headerStart = 12; }
  else throw new Error(`${what}: .npy format version ${major} is not supported`);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', headerStart, headerStart + headerLength);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new Error(`${what}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw new Error(`${what}: Fortran-order arrays are not supported`);
  const order = descr[0];
  const kind = descr.slice(1);
  if (!(order === '<' || order === '|' || (order === '=' && NPY_KINDS[kind]?.size === 1)) || !NPY_KINDS[kind])
    throw new Error(`${what}: dtype '${descr}' is not supported (little-endian float/int arrays only)`);
  const shape = shapeText.split(',').map(s => s.trim()).filter(s => s.length > 0).map(s => Number.parseInt(s, 10));
  if (shape.some(d => !Number.isInteger(d) || d < 0)) throw new Error(`${what}: bad shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLength;
  const byteLength = count * NPY_KINDS[kind].size;
  if (buf.length - dataStart !== byteLength)
    throw new Error(`${what}: shape [${shape}] of ${descr} needs ${byteLength} bytes, the file holds ${buf.length - dataStart}`);
  return { descr: kind, shape, bytes: Uint8Array.prototype.slice.call(buf, dataStart, dataStart + byteLength) };
}

/** Serialises one array as .npy format 1.0 (header padded to a multiple of 64 bytes, as numpy does). */
function formatNpy(descr, shape, bytes) {
  const order = NPY_KINDS[descr].size === 1 ? '|' : '<';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${order}${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = Buffer.alloc(10 + header.length + bytes.length);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(out, 0);
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).copy(out, 10 + header.length);
  return out;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Reads a .npz: a Map from array name (entry name less ".npy") to { descr, shape, bytes }. */
function readNpz(path) {
  const zip = readFileSync(path);
  const eocdSignature = 0x06054b50;
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === eocdSignature) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error(`${path}: not a zip archive (no end of central directory)`);
  let entryCount = zip.readUInt16LE(eocd + 10);
  let directoryOffset = zip.readUInt32LE(eocd + 16);
  if (entryCount === 0xffff || directoryOffset === 0xffffffff) {
    // zip64: the locator sits just before the classic end record and points at the zip64 end record.
    const locator = eocd - 20;
    if (locator < 0 || zip.readUInt32LE(locator) !== 0x07064b50) throw new Error(`${path}: zip64 locator missing`);
    const record = Number(zip.readBigUInt64LE(locator + 8));
    if (zip.readUInt32LE(record) !== 0x06064b50) throw new Error(`${path}: zip64 end record missing`);
    entryCount = Number(zip.readBigUInt64LE(record + 32));
    directoryOffset = Number(zip.readBigUInt64LE(record + 48));
  }
  const arrays = new Map();
  let p = directoryOffset;
  for (let e = 0; e < entryCount; e++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`${path}: corrupt central directory`);
    const flags = zip.readUInt16LE(p + 8);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    let compressedSize = zip.readUInt32LE(p + 20);
    let size = zip.readUInt32LE(p + 24);
    const nameLength = zip.readUInt16LE(p + 28);
    const extraLength = zip.readUInt16LE(p + 30);
    const commentLength = zip.readUInt16LE(p + 32);
    let localOffset = zip.readUInt32LE(p + 42);
    const name = zip.toString(flags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + nameLength);
    // zip64 extended information: only the fields whose 32-bit value is 0xFFFFFFFF are present, in this order.
    for (let x = p + 46 + nameLength; x + 4 <= p + 46 + nameLength + extraLength;) {
      const id = zip.readUInt16LE(x), length = zip.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let f = x + 4;
        if (size === 0xffffffff) { size = Number(zip.readBigUInt64LE(f)); f += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = Number(zip.readBigUInt64LE(f)); f += 8; }
        if (localOffset === 0xffffffff) { localOffset = Number(zip.readBigUInt64LE(f)); f += 8; }
      }
      x += 4 + length;
    }
    p += 46 + nameLength + extraLength + commentLength;
    if (flags & 1) throw new Error(`${path}: entry '${name}' is encrypted`);
    if (zip.readUInt32LE(localOffset) !== 0x04034b50) throw new Error(`${path}: entry '${name}' has no local header`);
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const stored = zip.subarray(dataStart, dataStart + compressedSize);
    let data;
    if (method === 0) data = stored;
    else if (method === 8) data = inflateRawSync(stored);
    else throw new Error(`${path}: entry '${name}' uses compression method ${method} (stored or deflate only)`);
    if (data.length !== size) throw new Error(`${path}: entry '${name}' is ${data.length} bytes, the directory says ${size}`);
    if (crc32(data) !== crc) throw new Error(`${path}: entry '${name}' fails its CRC-32`);
    if (!name.endsWith('.npy')) continue;
    const key = name.slice(0, -4);
    arrays.set(key, parseNpy(data, `${path}: '${key}'`));
  }
  return arrays;
}

/** Writes a .npz, every entry stored (no compression), as np.savez does. */
function writeNpz(path, arrays) {
  const locals = [];
  const directory = [];
  let offset = 0;
  for (const [key, { descr, shape, bytes }] of arrays) {
    const name = Buffer.from(`${key}.npy`, 'utf8');
    const data = formatNpy(descr, shape, bytes);
    if (data.length >= 0xffffffff || offset >= 0xffffffff) throw new Error(`${path}: over 4 GiB (no zip64 writer here)`);
    const crc = crc32(data);
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);            // version needed
    header.writeUInt16LE(0x800, 6);         // flags: UTF-8 names
    header.writeUInt16LE(0, 8);             // stored
    header.writeUInt16LE(0, 10);            // time 00:00:00
    header.writeUInt16LE(0x21, 12);         // date 1980-01-01
    header.writeUInt32LE(crc, 14);
    header.writeUInt32LE(data.length, 18);
    header.writeUInt32LE(data.length, 22);
    header.writeUInt16LE(name.length, 26);
    header.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);           // version made by
    central.writeUInt16LE(20, 6);           // version needed
    header.copy(central, 8, 6, 30);         // flags .. name length: the same as the local header's
    central.writeUInt16LE(0, 30);           // extra
    central.writeUInt16LE(0, 32);           // comment
    central.writeUInt16LE(0, 34);           // disk
    central.writeUInt16LE(0, 36);           // internal attributes
    central.writeUInt32LE(0o100644 * 0x10000, 38);  // external attributes: a regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(header, name, data);
    directory.push(central, name);
    offset += header.length + name.length + data.length;
  }
  const directorySize = directory.reduce((a, b) => a + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(arrays.size, 8);
  end.writeUInt16LE(arrays.size, 10);
  end.writeUInt32LE(directorySize, 12);
  end.writeUInt32LE(offset, 16);
  writeFileSync(path, Buffer.concat([...locals, ...directory, end]));
}

// ---------------------------------------------------------------------------------------------------------------
// LiteRT.js in Node

/** LiteRT element type (litert::ElementType) -> numpy kind. */
const ELEMENT_TYPES = {
  1: { name: 'FLOAT32', descr: 'f4' }, 2: { name: 'INT32', descr: 'i4' }, 3: { name: 'UINT8', descr: 'u1' },
  4: { name: 'INT64', descr: 'i8' }, 6: { name: 'BOOL', descr: 'b1' }, 7: { name: 'INT16', descr: 'i2' },
  9: { name: 'INT8', descr: 'i1' }, 10: { name: 'FLOAT16', descr: 'f2' }, 11: { name: 'FLOAT64', descr: 'f8' },
  16: { name: 'UINT32', descr: 'u4' }, 17: { name: 'UINT16', descr: 'u2' },
};

/** Makes the browser-only loader work in Node: it runs its Emscripten script through importScripts. */
const loadedScripts = [];

function installBrowserShim() {
  const nodeRequire = createRequire(import.meta.url);
  globalThis.self ??= globalThis;
  globalThis.importScripts = (...urls) => {
    for (const url of urls) {
      const file = url.startsWith('file:') ? fileURLToPath(url) : url;
      const source = readFileSync(file, 'utf8');
      loadedScripts.push(file);
      // The script declares `var ModuleFactory` (a worker's global); in its Node branch it also reads require and
      // __dirname (to find the .wasm beside it), which an ES module does not have, so pass them in.
      const factory = runInThisContext(
        `(function (require, __filename, __dirname) {\n${source}\n;return ModuleFactory;\n})`, { filename: file });
      globalThis.ModuleFactory = factory(nodeRequire, file, dirname(file));
    }
  };
}

function vectorToArray(vector) {
  const out = [];
  for (let i = 0; i < vector.size(); i++) out.push(vector.get(i));
  vector.delete();
  return out;
}

/** { elementType (number), descr, shape, bytes } of a RankedTensorType (which is deleted). */
function describeType(rankedType, what) {
  const elementType = rankedType.elementType().value;
  const layout = rankedType.layout();
  const shape = vectorToArray(layout.dimensions());
  layout.delete();
  const bytes = rankedType.bytes();
  rankedType.delete();
  const kind = ELEMENT_TYPES[elementType];
  if (!kind) throw new Error(`${what}: element type ${elementType} has no numpy equivalent here`);
  if (shape.some(d => d < 0)) throw new Error(`${what}: dynamic shape [${shape}] (a fixed-shape file is expected)`);
  return { elementType, descr: kind.descr, typeName: kind.name, shape, bytes };
}

async function main(argv) {
  if (argv.length !== 3) fail('usage: node litert_run.mjs MODEL.tflite INPUTS.npz OUTPUTS.npz');
  const [modelPath, inputsPath, outputsPath] = argv;

  let core;
  try {
    core = await import('@litertjs/core');
  } catch (e) {
    fail(`cannot load @litertjs/core (run 'npm install' in ${here}): ${e.message}`);
  }
  const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@litertjs/core')), '..', 'wasm');
  const version = JSON.parse(readFileSync(join(wasmDir, '..', 'package.json'), 'utf8')).version;

  installBrowserShim();
  // The loader asks for a WebGPU device for its default environment; Node has none, and it says so on console.warn.
  const warn = console.warn;
  const loaderWarnings = [];
  console.warn = (...args) => loaderWarnings.push(args.map(String).join(' '));
  let liteRt;
  try {
    liteRt = await core.loadLiteRt(wasmDir + '/');
  } finally {
    console.warn = warn;
  }
  for (const w of loaderWarnings) if (!/WebGPU/i.test(w)) process.stderr.write(`${w}\n`);
  const wasm = liteRt.liteRtWasm;
  const environment = liteRt.getDefaultEnvironment();
  console.log(`runtime: LiteRT.js ${version} (@litertjs/core, ${loadedScripts.map(f => basename(f, '.js')).join(', ')}, ` +
    `wasm CPU/XNNPACK, 1 thread, Node ${process.versions.node})`);

  // Load and compile through the Wasm bindings (see the note at the top on element types).
  const modelData = readFileSync(modelPath);
  const modelPtr = wasm._malloc(modelData.byteLength);
  wasm.HEAPU8.set(modelData, modelPtr);
  const model = wasm.loadModel(environment.liteRtEnvironment, modelPtr, modelData.byteLength);
  const compiled = await wasm.compileModel(environment.liteRtEnvironment, model, {
    environment, accelerator: 'wasm', cpuOptions: { numThreads: 1 }, gpuOptions: {}, webNNOptions: {},
  });

  let signature = 0;
  const signatureCount = model.getNumSignatures();
  const keys = [];
  for (let s = 0; s < signatureCount; s++) {
    const sig = model.getSignature(s);
    keys.push(sig.key());
    sig.delete();
  }
  if (keys.includes('serving_default')) signature = keys.indexOf('serving_default');
  const sig = model.getSignature(signature);
  const inputNames = vectorToArray(sig.inputNames());
  const outputNames = vectorToArray(sig.outputNames());
  sig.delete();
  const inputTypes = inputNames.map((n, i) => describeType(model.getInputTensorType(signature, i), `input '${n}'`));
  const outputTypes = outputNames.map((n, i) => describeType(model.getOutputTensorType(signature, i), `output '${n}'`));

  const inputs = readNpz(inputsPath);
  let count = -1;
  inputNames.forEach((name, i) => {
    const array = inputs.get(name);
    const type = inputTypes[i];
    if (!array) throw new Error(`${inputsPath} has no array '${name}' (it holds: ${[...inputs.keys()].join(', ') || 'nothing'})`);
    if (array.descr !== type.descr)
      throw new Error(`input '${name}': the file takes ${type.typeName}, ${inputsPath} holds dtype ${array.descr}`);
    const perSample = array.shape.slice(1).reduce((a, b) => a * b, 1) * NPY_KINDS[array.descr].size;
    if (array.shape.length === 0 || perSample !== type.bytes)
      throw new Error(`input '${name}': samples of shape [${array.shape.slice(1)}] do not fit the file's [${type.shape}]`);
    if (count >= 0 && array.shape[0] !== count) throw new Error(`inputs hold different sample counts`);
    count = array.shape[0];
  });
  if (count < 0) count = 1;  // a file without inputs: run it once

  // One host buffer per input, refilled for each sample.
  const inputBuffers = inputTypes.map((type, i) => {
    const rankedType = model.getInputTensorType(signature, i);
    const buffer = wasm.LiteRtTensorBuffer.createManaged(environment.liteRtEnvironment,
      wasm.LiteRtTensorBufferType.HOST_MEMORY, rankedType, type.bytes);
    const requirements = compiled.getInputBufferRequirements(signature, i);
    wasm.checkTensorBufferCompatible(buffer, rankedType, requirements);
    requirements.delete();
    rankedType.delete();
    return buffer;
  });
  const results = outputTypes.map(type => new Uint8Array(type.bytes * count));

  for (let s = 0; s < count; s++) {
    inputNames.forEach((name, i) => {
      const bytes = inputTypes[i].bytes;
      const ptr = inputBuffers[i].lock(wasm.LiteRtTensorBufferLockMode.WRITE);
      try {
        wasm.HEAPU8.set(inputs.get(name).bytes.subarray(s * bytes, (s + 1) * bytes), ptr);
      } finally {
        inputBuffers[i].unlock();
      }
    });
    const outputBuffers = await compiled.run(signature, inputBuffers);
    if (outputBuffers.length !== outputNames.length)
      throw new Error(`the model returned ${outputBuffers.length} outputs, its signature names ${outputNames.length}`);
    outputBuffers.forEach((buffer, o) => {
      const bytes = outputTypes[o].bytes;
      if (buffer.packedSize() !== bytes || buffer.offset() !== 0)
        throw new Error(`output '${outputNames[o]}': buffer of ${buffer.packedSize()} bytes, expected ${bytes}`);
      const ptr = buffer.lock(wasm.LiteRtTensorBufferLockMode.READ);
      try {
        results[o].set(wasm.HEAPU8.subarray(ptr, ptr + bytes), s * bytes);
      } finally {
        buffer.unlock();
      }
      buffer.delete();
    });
  }
  for (const buffer of inputBuffers) buffer.delete();

  // Stack the per-sample outputs on axis 0: [1, ...] each -> [count, ...].
  const outputs = new Map();
  outputNames.forEach((name, o) => {
    const shape = outputTypes[o].shape.slice();
    if (shape.length === 0) shape.push(count);
    else shape[0] *= count;
    outputs.set(name, { descr: outputTypes[o].descr, shape, bytes: results[o] });
  });
  writeNpz(outputsPath, outputs);
  compiled.delete();
  model.delete();
  wasm._free(modelPtr);
}

export { readNpz, writeNpz };

// Run only as a command (importing this file gives the .npz helpers, for tests).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await main(process.argv.slice(2));
  } catch (e) {
    // Embind may throw a C++ exception as a bare number; say what we can.
    fail(e instanceof Error ? (e.message || String(e)) : `LiteRT failed (${typeof e} ${String(e)})`);
  }
}
