// The sandpipe action SDK for JavaScript: a thin layer over the imports componentize-js
// binds from the sandpipe:action WIT, with the Rust SDK's concepts and names — Request,
// Configuration, Outcome, Failure, log, copyTree — and the file access a JavaScript
// component lacks (no `fs` module: files go through WASI's preopened directories).
//
// An action is one function; the module exports `runner`, the sandpipe:action/runner
// export:
//
//     import { Outcome, action } from './sandpipe-action.js';
//     export const runner = action((request) => {
//       const name = request.config.required('Name');
//       return new Outcome().variable('Greeting', `Hello, ${name}`);
//     });
//
// Inputs are read-only directories under /in, outputs read-write directories under /out,
// scratch space is /tmp. Throw a Failure to fail the action; any other exception fails it
// too, with its message.

import { log as hostLog, progress as hostProgress } from 'sandpipe:action/log@0.1.0';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

/** A failed job: CodePipeline's FailureDetails. */
export class Failure extends Error {
  constructor(message, kind = 'job-failed', externalExecutionId = undefined) {
    super(message);
    this.kind = kind;
    this.externalExecutionId = externalExecutionId;
  }
  static job(message) { return new Failure(message, 'job-failed'); }
  static configuration(message) { return new Failure(message, 'configuration-error'); }
  static permission(message) { return new Failure(message, 'permission-error'); }
  static system(message) { return new Failure(message, 'system-unavailable'); }
  withExternalExecutionId(id) { this.externalExecutionId = id; return this; }
  raw() {
    return { kind: this.kind, message: this.message, externalExecutionId: this.externalExecutionId };
  }
}

/** The action's configuration, with every #{variable} already resolved by the host. */
export class Configuration {
  constructor(entries) { this.entries = new Map(entries); }
  get(key, fallback = undefined) { return this.entries.has(key) ? this.entries.get(key) : fallback; }
  /** The value of a required property; missing or empty is a ConfigurationError. */
  required(key) {
    const value = this.entries.get(key);
    if (!value) throw Failure.configuration(`the required configuration property '${key}' is missing`);
    return value;
  }
  /** A true/false property (case-insensitive, as CodePipeline accepts it). */
  flag(key, fallback = false) {
    const value = this.entries.get(key);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase();
    if (lower === 'true' || lower === 'false') return lower === 'true';
    throw Failure.configuration(`configuration property '${key}' must be true or false, not '${value}'`);
  }
  [Symbol.iterator]() { return this.entries[Symbol.iterator](); }
}

/** One execution of an action, as the host describes it. */
export class Request {
  constructor(raw) {
    this.pipeline = raw.pipeline;
    this.stage = raw.stage;
    this.action = raw.action;
    this.executionId = raw.executionId;
    this.actionType = raw.actionType;
    this.inputs = raw.inputs;
    this.outputs = raw.outputs;
    this.continuationToken = raw.continuationToken;
    this.config = new Configuration(raw.configuration);
  }
  singleInput() {
    if (this.inputs.length !== 1) {
      throw Failure.configuration(`this action takes exactly one input artifact, but ${this.inputs.length} were given`);
    }
    return this.inputs[0];
  }
  singleOutput() {
    if (this.outputs.length !== 1) {
      throw Failure.configuration(`this action produces exactly one output artifact, but ${this.outputs.length} were declared`);
    }
    return this.outputs[0];
  }
}

/** A successful (or still in progress) job: CodePipeline's PutJobSuccessResult. */
export class Outcome {
  constructor() {
    this.outputVariables = [];
    this.artifactFiles = [];
  }
  /** Publish an output variable under the action's namespace. */
  variable(name, value) { this.outputVariables.push([name, String(value)]); return this; }
  summary(text) { this.summaryText = text; return this; }
  externalExecutionId(id) { this.externalId = id; return this; }
  percentComplete(percent) { this.percent = Math.max(0, Math.min(100, percent)); return this; }
  /** Still in progress: the host calls the action again with this token. */
  continueWith(token) { this.token = token; return this; }
  /** Store output artifact `artifact` as the bytes of `file`, unchanged, instead of a zip. */
  artifactFile(artifact, file) { this.artifactFiles.push({ artifact, file }); return this; }
  raw() {
    return {
      outputVariables: this.outputVariables,
      summary: this.summaryText,
      externalExecutionId: this.externalId,
      percentComplete: this.percent,
      continuationToken: this.token,
      currentRevision: undefined,
      artifactFiles: this.artifactFiles,
    };
  }
}

/** Structured log lines and progress, shown live and kept with the execution. */
export const log = {
  debug: (message) => hostLog('debug', String(message)),
  info: (message) => hostLog('info', String(message)),
  warn: (message) => hostLog('warn', String(message)),
  error: (message) => hostLog('error', String(message)),
  progress: (percentComplete, summary) => hostProgress(
    percentComplete === undefined ? undefined : Math.max(0, Math.min(100, percentComplete)),
    String(summary)),
};

// Files, through the preopened directory that holds each path.

function locate(path) {
  let best;
  for (const [descriptor, guestPath] of getDirectories()) {
    const prefix = guestPath.replace(/\/+$/, '');
    if (path === prefix || path.startsWith(prefix + '/')) {
      if (!best || prefix.length > best[1].length) best = [descriptor, prefix];
    }
  }
  if (!best) throw Failure.job(`no preopened directory holds ${path}`);
  const relative = path.slice(best[1].length).replace(/^\/+/, '');
  return [best[0], relative === '' ? '.' : relative];
}

function failed(what, path, error) {
  return Failure.job(`${what} ${path}: ${error && error.payload !== undefined ? error.payload : error}`);
}

function open(path, openFlags, descriptorFlags) {
  const [dir, relative] = locate(path);
  try {
    return dir.openAt({}, relative, openFlags, descriptorFlags);
  } catch (error) {
    throw failed('opening', path, error);
  }
}

/** The bytes of the file at `path`. */
export function readFile(path) {
  const file = open(path, {}, { read: true });
  const chunks = [];
  let offset = 0n;
  for (;;) {
    const [chunk, end] = file.read(65536n, offset);
    chunks.push(chunk);
    offset += BigInt(chunk.length);
    if (end || chunk.length === 0) break;
  }
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) { bytes.set(chunk, at); at += chunk.length; }
  return bytes;
}

/** The text (UTF-8) of the file at `path`. */
export function readText(path) {
  return new TextDecoder().decode(readFile(path));
}

/** Write `data` (a string or bytes) to the file at `path`, replacing it. */
export function writeFile(path, data) {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const file = open(path, { create: true, truncate: true }, { write: true });
  let offset = 0;
  while (offset < bytes.length) {
    const written = Number(file.write(bytes.subarray(offset), BigInt(offset)));
    if (written === 0) throw Failure.job(`writing ${path}: nothing could be written`);
    offset += written;
  }
}

/** The entries of the directory at `path`: `{ name, type }`, type as WASI names it. */
export function listDir(path) {
  const dir = open(path, { directory: true }, { read: true });
  const stream = dir.readDirectory();
  const entries = [];
  for (let entry = stream.readDirectoryEntry(); entry; entry = stream.readDirectoryEntry()) {
    entries.push(entry);
  }
  return entries;
}

/** Make the directory at `path` and its parents. */
export function makeDirs(path) {
  const [dir, relative] = locate(path);
  let sofar = '';
  for (const part of relative.split('/').filter((p) => p && p !== '.')) {
    sofar = sofar ? `${sofar}/${part}` : part;
    try {
      dir.createDirectoryAt(sofar);
    } catch (error) {
      if (error && error.payload !== 'exist') throw failed('creating', path, error);
    }
  }
}

/** Copy the tree under `source` into `target` (created if missing): directories, files and
 * symbolic links as links; a file already in `target` is replaced. */
export function copyTree(source, target) {
  makeDirs(target);
  for (const entry of listDir(source)) {
    const from = `${source}/${entry.name}`;
    const to = `${target}/${entry.name}`;
    if (entry.type === 'directory') {
      copyTree(from, to);
    } else if (entry.type === 'symbolic-link') {
      const [fromDir, fromRelative] = locate(from);
      const [toDir, toRelative] = locate(to);
      try { toDir.unlinkFileAt(toRelative); } catch (_) { /* not there */ }
      toDir.symlinkAt(fromDir.readlinkAt(fromRelative), toRelative);
    } else {
      writeFile(to, readFile(from));
    }
  }
}

/** Make `handler` the action: called with each Request, it returns an Outcome or throws.
 * Export what it returns as `runner`. */
export function action(handler) {
  return {
    run(raw) {
      let outcome;
      try {
        outcome = handler(new Request(raw));
      } catch (error) {
        if (error instanceof Failure) throw error.raw();
        log.error(error && error.stack ? error.stack : String(error));
        throw Failure.job(`${error && error.name ? error.name : 'Error'}: ${error && error.message ? error.message : error}`).raw();
      }
      if (!(outcome instanceof Outcome)) {
        throw Failure.system('the action returned something other than an Outcome').raw();
      }
      return outcome.raw();
    },
  };
}
