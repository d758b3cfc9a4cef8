// Serves one keystore provider over loopback TCP, so that tests running in Linux Node can drive a
// provider executing for real inside Windows Node under Wine (test-support/wine.ts is the client).
//
//   scripts/wine/node.sh scripts/wine/agent.cjs --module packages/provider-capi/dist/index.cjs \
//     [--factory createProvider] [--options JSON] --port-file .tmp/wine/agent.port
//
// Protocol: one JSON object per line each way. A request is { id, op, args, signal? } and its answer
// { id, ok: true, result } or { id, ok: false, error }. Buffers travel as { $b: base64 }, KeyObjects
// as { $k: 'public' | 'private', der: base64 } (SPKI / PKCS#8), errors with their code, native status,
// name and hint. `signal: 'aborted'` runs the operation with an already aborted AbortSignal; `'live'`
// with one that a later { op: 'cancel', args: { target } } aborts.
'use strict';
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const { createPrivateKey, createPublicKey, KeyObject } = require('node:crypto');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function encode(value) {
  if (value === null || value === undefined) return value;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { $b: Buffer.from(value).toString('base64') };
  if (value instanceof KeyObject) {
    if (value.type === 'private') {
      return { $k: 'private', der: value.export({ format: 'der', type: 'pkcs8' }).toString('base64') };
    }
    return { $k: 'public', der: value.export({ format: 'der', type: 'spki' }).toString('base64') };
  }
  if (Array.isArray(value)) return value.map(encode);
  if (typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) if (typeof v !== 'function') out[k] = encode(v);
    return out;
  }
  return value;
}

function decode(value) {
  if (value === null || value === undefined || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(decode);
  if (typeof value.$b === 'string') return Buffer.from(value.$b, 'base64');
  if (value.$k === 'public')
    return createPublicKey({ key: Buffer.from(value.der, 'base64'), format: 'der', type: 'spki' });
  if (value.$k === 'private') {
    return createPrivateKey({ key: Buffer.from(value.der, 'base64'), format: 'der', type: 'pkcs8' });
  }
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = decode(v);
  return out;
}

function encodeError(err) {
  const e = err && typeof err === 'object' ? err : { message: String(err) };
  return {
    name: e.name,
    message: e.message,
    code: e.code,
    providerId: e.providerId,
    nativeStatus: e.nativeStatus,
    nativeName: e.nativeName,
    hint: e.hint,
    refusals: e.refusals,
    issues: e.issues,
    stack: e.stack,
  };
}

async function main() {
  const modulePath = path.resolve(arg('module', ''));
  const factory = arg('factory', 'createProvider');
  const options = JSON.parse(arg('options', 'null') ?? 'null');
  const portFile = arg('port-file', '');
  if (!portFile) throw new Error('agent: --port-file is required');
  const mod = require(modulePath);
  if (typeof mod[factory] !== 'function') throw new Error(`agent: ${modulePath} exports no function ${factory}`);
  const decoded = options === null ? undefined : decode(options);
  // The test hatch of @keystore/core/testing is a symbol-keyed option, which JSON cannot carry:
  // `testPolicySources` on the wire becomes that option here.
  if (decoded && typeof decoded === 'object' && decoded.testPolicySources !== undefined) {
    decoded[Symbol.for('@keystore/core/testing/policySources')] = decoded.testPolicySources;
    delete decoded.testPolicySources;
  }
  const provider = await mod[factory](decoded);

  const keys = new Map();
  let nextKey = 1;
  const controllers = new Map();

  function describeKey(key) {
    const handle = nextKey++;
    keys.set(handle, key);
    return {
      handle,
      name: key.name,
      algorithm: key.algorithm,
      scope: key.scope,
      exportable: key.exportable,
      isolation: key.isolation,
      publicKey: key.publicKey,
      has: {
        signMessage: typeof key.signMessage === 'function',
        decrypt: typeof key.decrypt === 'function',
        deriveSecret: typeof key.deriveSecret === 'function',
        exportPrivateKey: typeof key.exportPrivateKey === 'function',
      },
    };
  }

  function keyOf(args) {
    const key = keys.get(args.key);
    if (!key) throw Object.assign(new Error(`agent: no key handle ${args.key}`), { code: 'ERR_AGENT_NO_KEY' });
    return key;
  }

  const ops = {
    meta: async () => ({ id: provider.id, displayName: provider.displayName, capabilities: provider.capabilities }),
    probe: (_a, o) => provider.probe(o),
    createKey: async (a, o) => describeKey(await provider.createKey({ ...a.request, ...o })),
    importKey: async (a, o) => describeKey(await provider.importKey({ ...a.request, ...o })),
    openKey: async (a, o) => describeKey(await provider.openKey({ ...a.request, ...o })),
    listKeys: (a, o) => provider.listKeys({ ...a.options, ...o }),
    deleteKey: (a, o) => provider.deleteKey({ ...a.request, ...o }),
    close: async () => {
      if (typeof provider.close === 'function') await provider.close();
      return null;
    },
    'key.signDigest': (a, o) => keyOf(a).signDigest(a.digest, a.params, o),
    'key.signMessage': (a, o) => keyOf(a).signMessage(a.data, a.params, o),
    'key.decrypt': (a, o) => keyOf(a).decrypt(a.ciphertext, a.hash, o),
    'key.deriveSecret': (a, o) => keyOf(a).deriveSecret(a.peer, o),
    'key.exportPrivateKey': (a, o) => keyOf(a).exportPrivateKey(o),
    'key.close': async (a) => {
      const key = keys.get(a.key);
      if (key) await key.close();
      return null;
    },
    cancel: async (a) => {
      controllers.get(a.target)?.abort();
      return null;
    },
  };

  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let buffered = '';
    const send = (message) => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(message)}\n`);
    };
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
        if (!line.trim()) continue;
        const request = JSON.parse(line);
        if (request.op === 'shutdown') {
          send({ id: request.id, ok: true, result: null });
          socket.end();
          server.close();
          Promise.resolve(typeof provider.close === 'function' ? provider.close() : undefined)
            .catch(() => {})
            .finally(() => setTimeout(() => process.exit(0), 10));
          return;
        }
        const fn = ops[request.op];
        const opOptions = {};
        if (request.signal === 'aborted') {
          const c = new AbortController();
          c.abort();
          opOptions.signal = c.signal;
        } else if (request.signal === 'live') {
          const c = new AbortController();
          controllers.set(request.id, c);
          opOptions.signal = c.signal;
        }
        Promise.resolve()
          .then(() => {
            if (!fn) throw new Error(`agent: unknown op ${request.op}`);
            return fn(decode(request.args ?? {}), opOptions);
          })
          .then(
            (result) => send({ id: request.id, ok: true, result: encode(result) }),
            (error) => send({ id: request.id, ok: false, error: encodeError(error) }),
          )
          .finally(() => controllers.delete(request.id));
      }
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => {
    // The client reads the file once it exists and takes the port only when the line is complete.
    // A rename makes it appear whole; under a loaded Wine the rename can fail for a moment (seen as
    // EPERM), so it is tried again, and as a last resort the line is written in place.
    const line = `${server.address().port}\n`;
    const tmp = `${portFile}.tmp`;
    fs.writeFileSync(tmp, line);
    for (let attempt = 0; ; attempt++) {
      try {
        fs.renameSync(tmp, portFile);
        return;
      } catch (error) {
        if (attempt >= 20) {
          process.stderr.write(`agent: rename of the port file failed (${error.code}); writing it in place\n`);
          fs.writeFileSync(portFile, line);
          fs.rmSync(tmp, { force: true });
          return;
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
  });
}

main().catch((err) => {
  process.stderr.write(`agent: ${err?.stack ? err.stack : err}\n`);
  process.exit(1);
});
