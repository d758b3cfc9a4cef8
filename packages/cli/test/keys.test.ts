import { spawnSync } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, Sandbox, stderrLines } from './helpers.js';

interface Created {
  ref: string;
  name: string;
  provider: string;
  algorithm: string;
  scope: string;
  exportable: boolean;
  isolation: { level: string; providerId: string; measuredAt: string; evidence: string[] };
  publicKey: string;
  persistent: boolean;
  warnings: string[];
}
interface ErrorOut {
  error: { code: string; message: string; hint?: string };
}

const EXIT_FOR: Record<string, number> = {
  ERR_KEYSTORE_NO_PROVIDER: 3,
  ERR_KEYSTORE_PROVIDER_UNAVAILABLE: 3,
  ERR_KEYSTORE_KEY_NOT_FOUND: 4,
  ERR_KEYSTORE_POLICY_VIOLATION: 5,
};

describe('keys with --provider memory (one process)', () => {
  let box: Sandbox;
  let dev: string;
  beforeAll(() => {
    box = new Sandbox();
    dev = box.write('dev.json', { minimumIsolation: 'none' });
  });
  afterAll(() => box.cleanup());

  it('keys create prints ref, provider, algorithm and the isolation receipt, and says the key is gone', () => {
    const r = box.run([
      'keys',
      'create',
      'demo',
      '--algorithm',
      'ECDSA-P256',
      '--provider',
      'memory',
      '--policy',
      dev,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const k = parse<Created>(r);
    expect(k).toMatchObject({
      name: 'demo',
      provider: 'memory',
      algorithm: 'ECDSA-P256',
      scope: 'user',
      exportable: false,
    });
    expect(k.ref).toMatch(/^keystore:memory:user:demo$/);
    expect(k.isolation.level).toBe('none');
    expect(k.isolation.providerId).toBe('memory');
    expect(k.persistent).toBe(false);
    expect(k.warnings.length).toBeGreaterThan(0);
    expect(createPublicKey(k.publicKey).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('human keys create output says first that the key lives only in this process, then shows the ref', () => {
    const r = box.run(['keys', 'create', 'demo', '--algorithm', 'RSA-2048', '--provider', 'memory', '--policy', dev]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('keystore:memory:user:demo');
    const lines = r.stdout.split('\n');
    // Said before the key is shown, not after "Created".
    expect(lines[0]).toMatch(
      /^Note: the memory provider keeps keys only in this process's memory: .* gone when it exits/,
    );
    expect(lines[1]).toBe("Created key demo in this process's memory");
    expect(r.stdout).toMatch(
      /^This key is gone once the command ends: to keep a key, create it with a provider that stores it \('keystore doctor' shows/m,
    );
    // Every provider package is installed in this workspace: nothing tells the user to install one.
    expect(r.stdout).not.toMatch(/install/i);
  });

  it('memory keys do not survive the process: keys sign exits 4', () => {
    const r = box.run(['keys', 'sign', 'demo', '--provider', 'memory', '--policy', dev, '--json'], { input: 'x' });
    expect(r.code).toBe(4);
    expect(parse<ErrorOut>(r).error.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
    expect(box.run(['keys', 'list', '--provider', 'memory', '--policy', dev, '--json']).stdout).toContain('"keys": []');
  });

  it('under the default policy memory may not serve: a typed error, exit per the table', () => {
    const r = box.run(['keys', 'create', 'demo', '--algorithm', 'ECDSA-P256', '--provider', 'memory', '--json']);
    const { error } = parse<ErrorOut>(r);
    expect(['ERR_KEYSTORE_NO_PROVIDER', 'ERR_KEYSTORE_POLICY_VIOLATION']).toContain(error.code);
    expect(r.code).toBe(EXIT_FOR[error.code]);
    expect(stderrLines(r)[0]).toMatch(new RegExp(`^keystore: .+ \\(${error.code}\\)$`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('NO_PROVIDER on stderr: the cause on the first line, each provider on its own line, then a hint that fits', () => {
    const r = box.run(['keys', 'create', 'demo', '--algorithm', 'ECDSA-P256', '--provider', 'memory']);
    expect(r.code).toBe(3);
    const lines = stderrLines(r);
    expect(lines[0]).toMatch(
      /^keystore: no provider can create a ECDSA-P256 key .*: the isolation floor: no available provider reaches os-isolated \(memory achieves none\) \(ERR_KEYSTORE_NO_PROVIDER\)$/,
    );
    expect(lines[1]).toBe('  memory: achieves none, below the floor os-isolated (/minimumIsolation)');
    expect(lines.slice(2, -1).every((l) => /^ {2}\S/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^hint: .*an app policy may lower the floor/);
  });

  it('a provider that is not installed: exit 3 ERR_KEYSTORE_PROVIDER_UNAVAILABLE with a hint', () => {
    const r = box.run(['keys', 'list', '--provider', 'nosuch', '--json']);
    expect(r.code).toBe(3);
    expect(parse<ErrorOut>(r).error).toMatchObject({ code: 'ERR_KEYSTORE_PROVIDER_UNAVAILABLE' });
    const lines = stderrLines(r);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^hint: /);
  });
});

describe('keys across processes (file-backed test-double provider)', () => {
  let box: Sandbox;
  const fake = ['--provider', 'fake'];
  const data = Buffer.from('hello from the keystore CLI tests\n'.repeat(100));
  let dataFile: string;

  beforeAll(() => {
    box = new Sandbox();
    box.installFakeProvider();
    dataFile = box.write('data.bin', data);
  });
  afterAll(() => box.cleanup());

  const ok = (args: string[], input?: Buffer | string) => {
    const r = box.run(args, input === undefined ? {} : { input });
    expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r;
  };

  it('creates keys in one process and lists them in another', () => {
    const ec = parse<Created>(ok(['keys', 'create', 'ec1', '--algorithm', 'ECDSA-P256', ...fake, '--json']));
    expect(ec).toMatchObject({ ref: 'keystore:fake:user:ec1', provider: 'fake', persistent: true, warnings: [] });
    expect(ec.isolation.level).toBe('os-isolated');
    ok(['keys', 'create', 'rsa1', '--algorithm', 'RSA-2048', ...fake]);
    ok(['keys', 'create', 'm1', '--algorithm', 'ECDSA-P384', ...fake, '--scope', 'machine']);
    const list = parse<{ keys: { ref: string; algorithm: string; scope: string; provider: string }[] }>(
      ok(['keys', 'list', '--json']),
    );
    expect(list.keys).toEqual(
      expect.arrayContaining([
        { ref: 'keystore:fake:user:ec1', name: 'ec1', provider: 'fake', scope: 'user', algorithm: 'ECDSA-P256' },
        { ref: 'keystore:fake:user:rsa1', name: 'rsa1', provider: 'fake', scope: 'user', algorithm: 'RSA-2048' },
        { ref: 'keystore:fake:machine:m1', name: 'm1', provider: 'fake', scope: 'machine', algorithm: 'ECDSA-P384' },
      ]),
    );
    const machineOnly = parse<{ keys: { scope: string }[] }>(
      ok(['keys', 'list', ...fake, '--scope', 'machine', '--json']),
    );
    expect(machineOnly.keys.every((k) => k.scope === 'machine')).toBe(true);
    expect(ok(['keys', 'list', ...fake]).stdout).toContain('keystore:fake:user:ec1');
  });

  it('creating an existing key: exit 5 ERR_KEYSTORE_KEY_EXISTS', () => {
    const r = box.run(['keys', 'create', 'ec1', '--algorithm', 'ECDSA-P256', ...fake, '--json']);
    expect(r.code).toBe(5);
    expect(parse<ErrorOut>(r).error.code).toBe('ERR_KEYSTORE_KEY_EXISTS');
  });

  it('keys public: PEM, DER (binary on stdout), JWK, --out', () => {
    const pem = ok(['keys', 'public', 'ec1', ...fake]).stdout;
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const der = ok(['keys', 'public', 'ec1', '--format', 'der', ...fake]).raw;
    expect(createPublicKey({ key: der, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' })).toBe(
      pem,
    );
    const jwk = JSON.parse(ok(['keys', 'public', 'ec1', '--format', 'jwk', ...fake]).stdout);
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    ok(['keys', 'public', 'keystore:fake:user:ec1', '--out', 'ec1.pem']);
    expect(readFileSync(box.path('ec1.pem'), 'utf8')).toBe(pem);
    const j = parse<{ format: string; publicKey: string }>(ok(['keys', 'public', 'ec1', ...fake, '--json']));
    expect(j).toMatchObject({ format: 'pem', publicKey: pem });
  });

  it('keys sign (defaults) writes a DER ECDSA signature that openssl and node:crypto accept', () => {
    ok(['keys', 'public', 'ec1', ...fake, '--out', 'ec1.pem', '--force']);
    ok(['keys', 'sign', 'ec1', ...fake, '--in', dataFile, '--out', 'ec1.sig']);
    const openssl = spawnSync(
      'openssl',
      ['dgst', '-sha256', '-verify', box.path('ec1.pem'), '-signature', box.path('ec1.sig'), dataFile],
      { encoding: 'utf8' },
    );
    expect(openssl.status, openssl.stderr).toBe(0);
    expect(openssl.stdout).toContain('Verified OK');
    const pub = createPublicKey(readFileSync(box.path('ec1.pem')));
    expect(verify('sha256', data, pub, readFileSync(box.path('ec1.sig')))).toBe(true);
  });

  it('keys sign reads stdin and writes raw bytes to stdout; --encoding ieee-p1363 and --hash', () => {
    const pub = createPublicKey(ok(['keys', 'public', 'ec1', ...fake]).stdout);
    const der = ok(['keys', 'sign', 'ec1', ...fake], data).raw;
    expect(verify('sha256', data, pub, der)).toBe(true);
    const p1363 = ok(['keys', 'sign', 'ec1', ...fake, '--encoding', 'ieee-p1363', '--hash', 'sha384'], data).raw;
    expect(p1363.length).toBe(64);
    expect(verify('sha384', data, { key: pub, dsaEncoding: 'ieee-p1363' }, p1363)).toBe(true);
  });

  it('RSA: pkcs1 (openssl) and pss (node:crypto)', () => {
    ok(['keys', 'public', 'rsa1', ...fake, '--out', 'rsa1.pem']);
    ok(['keys', 'sign', 'rsa1', ...fake, '--in', dataFile, '--out', 'rsa1.sig']);
    const openssl = spawnSync(
      'openssl',
      ['dgst', '-sha256', '-verify', box.path('rsa1.pem'), '-signature', box.path('rsa1.sig'), dataFile],
      { encoding: 'utf8' },
    );
    expect(openssl.status, openssl.stderr).toBe(0);
    const pub = createPublicKey(readFileSync(box.path('rsa1.pem')));
    const pss = ok(['keys', 'sign', 'rsa1', ...fake, '--padding', 'pss', '--hash', 'sha512'], data).raw;
    expect(verify('sha512', data, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, pss)).toBe(
      true,
    );
    const j = parse<{ signature: string; hash: string; padding: string }>(
      ok(['keys', 'sign', 'rsa1', ...fake, '--in', dataFile, '--json']),
    );
    expect(j).toMatchObject({ hash: 'sha256', padding: 'pkcs1' });
    expect(verify('sha256', data, pub, Buffer.from(j.signature, 'base64'))).toBe(true);
  });

  it('RSA-PSS and OAEP interoperate with openssl as docs/cli.md shows', () => {
    ok(['keys', 'public', 'rsa1', ...fake, '--out', 'rsa1.pem', '--force']);
    ok(['keys', 'sign', 'rsa1', ...fake, '--padding', 'pss', '--in', dataFile, '--out', 'pss.sig']);
    const pss = spawnSync(
      'openssl',
      [
        'dgst',
        '-sha256',
        '-sigopt',
        'rsa_padding_mode:pss',
        '-sigopt',
        'rsa_pss_saltlen:digest',
        '-verify',
        box.path('rsa1.pem'),
        '-signature',
        box.path('pss.sig'),
        dataFile,
      ],
      { encoding: 'utf8' },
    );
    expect(pss.status, pss.stderr).toBe(0);
    box.write('secret.txt', 'openssl secret');
    const enc = spawnSync('openssl', [
      'pkeyutl',
      '-encrypt',
      '-pubin',
      '-inkey',
      box.path('rsa1.pem'),
      '-pkeyopt',
      'rsa_padding_mode:oaep',
      '-pkeyopt',
      'rsa_oaep_md:sha256',
      '-pkeyopt',
      'rsa_mgf1_md:sha256',
      '-in',
      box.path('secret.txt'),
      '-out',
      box.path('secret.enc'),
    ]);
    expect(enc.status, enc.stderr.toString()).toBe(0);
    expect(ok(['keys', 'decrypt', 'rsa1', ...fake, '--in', 'secret.enc']).stdout).toBe('openssl secret');
  });

  it('keys verify: exit 0 valid, exit 1 invalid', () => {
    ok(['keys', 'sign', 'ec1', ...fake, '--in', dataFile, '--out', 'v.sig']);
    const valid = box.run(['keys', 'verify', 'ec1', ...fake, '--signature', 'v.sig', '--in', dataFile, '--json']);
    expect(valid.code).toBe(0);
    expect(parse<{ valid: boolean }>(valid).valid).toBe(true);
    const tampered = box.write('tampered.bin', Buffer.concat([data, Buffer.from('!')]));
    const invalid = box.run(['keys', 'verify', 'ec1', ...fake, '--signature', 'v.sig', '--in', tampered, '--json']);
    expect(invalid.code).toBe(1);
    expect(parse<{ valid: boolean }>(invalid).valid).toBe(false);
    expect(box.run(['keys', 'verify', 'ec1', ...fake, '--signature', 'v.sig'], { input: data }).code).toBe(0);
    expect(box.run(['keys', 'verify', 'ec1', ...fake, '--signature', 'v.sig'], { input: 'other' }).code).toBe(1);
  });

  it('keys decrypt: RSA-OAEP with the default and a chosen hash', () => {
    const pub = createPublicKey(ok(['keys', 'public', 'rsa1', ...fake]).stdout);
    const secret = Buffer.from('the secret');
    const ct256 = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, secret);
    expect(ok(['keys', 'decrypt', 'rsa1', ...fake], ct256).raw.equals(secret)).toBe(true);
    const ct1 = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, secret);
    box.write('ct1.bin', ct1);
    ok(['keys', 'decrypt', 'rsa1', ...fake, '--hash', 'sha1', '--in', 'ct1.bin', '--out', 'pt.bin']);
    expect(readFileSync(box.path('pt.bin')).equals(secret)).toBe(true);
  });

  it('an unknown key: exit 4 ERR_KEYSTORE_KEY_NOT_FOUND, one line, no stack', () => {
    for (const args of [
      ['keys', 'sign', 'nosuch', ...fake],
      ['keys', 'public', 'nosuch', ...fake],
      ['keys', 'sign', 'ec1', ...fake, '--scope', 'machine'],
    ]) {
      const r = box.run([...args, '--json'], { input: 'x' });
      expect(r.code, args.join(' ')).toBe(4);
      expect(parse<ErrorOut>(r).error.code).toBe('ERR_KEYSTORE_KEY_NOT_FOUND');
      expect(stderrLines(r)[0]).toMatch(/^keystore: .+ \(ERR_KEYSTORE_KEY_NOT_FOUND\)$/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('an unreadable --in file: exit 1 ERR_KEYSTORE_INVALID_ARGUMENT', () => {
    const r = box.run(['keys', 'sign', 'ec1', ...fake, '--in', 'missing.bin', '--json']);
    expect(r.code).toBe(1);
    expect(parse<ErrorOut>(r).error.code).toBe('ERR_KEYSTORE_INVALID_ARGUMENT');
    expect(stderrLines(r)).toHaveLength(1);
  });

  it('the machine policy applies to keys commands', () => {
    box.machinePolicy({ allowedAlgorithms: ['ECDSA-P256'] });
    try {
      const r = box.run(['keys', 'create', 'rsa2', '--algorithm', 'RSA-2048', ...fake, '--json']);
      const { error } = parse<ErrorOut>(r);
      expect(['ERR_KEYSTORE_POLICY_VIOLATION', 'ERR_KEYSTORE_NO_PROVIDER']).toContain(error.code);
      expect(r.code).toBe(EXIT_FOR[error.code]);
    } finally {
      box.machinePolicy({});
    }
  });

  it('keys delete removes keys by name and by ref', () => {
    ok(['keys', 'create', 'd1', '--algorithm', 'ECDSA-P256', ...fake]);
    ok(['keys', 'create', 'd2', '--algorithm', 'ECDSA-P256', ...fake]);
    const r = parse<{ deleted: string[] }>(ok(['keys', 'delete', 'd1', 'keystore:fake:user:d2', ...fake, '--json']));
    expect(r.deleted).toEqual(['d1', 'keystore:fake:user:d2']);
    const list = parse<{ keys: { name: string }[] }>(ok(['keys', 'list', ...fake, '--json']));
    expect(list.keys.map((k) => k.name)).not.toContain('d1');
    expect(list.keys.map((k) => k.name)).not.toContain('d2');
    expect(box.run(['keys', 'sign', 'd1', ...fake], { input: 'x' }).code).toBe(4);
  });

  it('keys delete goes on past a missing key, reports each failure, and exits with the first one', () => {
    ok(['keys', 'create', 'd3', '--algorithm', 'ECDSA-P256', ...fake]);
    ok(['keys', 'create', 'd4', '--algorithm', 'ECDSA-P256', ...fake]);
    const r = box.run(['keys', 'delete', 'd3', 'nosuch', 'd4', ...fake, '--json']);
    expect(r.code).toBe(4);
    const out = parse<{ deleted: string[]; failed: { name: string; error: { code: string } }[] }>(r);
    expect(out.deleted).toEqual(['d3', 'd4']);
    expect(out.failed).toEqual([
      { name: 'nosuch', error: expect.objectContaining({ code: 'ERR_KEYSTORE_KEY_NOT_FOUND' }) },
    ]);
    expect(stderrLines(r)).toHaveLength(1);
    expect(stderrLines(r)[0]).toMatch(/^keystore: .+ \(ERR_KEYSTORE_KEY_NOT_FOUND\)$/);
    const human = box.run(['keys', 'delete', 'nosuch', ...fake]);
    expect(human.code).toBe(4);
    expect(human.stdout).toBe('');
    expect(stderrLines(human)).toHaveLength(1);
  });
});

describe('--provider and broken provider packages', () => {
  let box: Sandbox;
  beforeAll(() => {
    box = new Sandbox();
    box.installFakeProvider();
    box.installBrokenProvider('broken');
  });
  afterAll(() => box.cleanup());

  it('a broken package does not affect commands for another provider', () => {
    const r = box.run(['keys', 'list', '--provider', 'fake', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('naming the broken provider: exit 3 ERR_KEYSTORE_PROVIDER_UNAVAILABLE carrying the load error', () => {
    const r = box.run(['keys', 'list', '--provider', 'broken', '--json']);
    expect(r.code).toBe(3);
    const { error } = parse<ErrorOut>(r);
    expect(error.code).toBe('ERR_KEYSTORE_PROVIDER_UNAVAILABLE');
    expect(error.message).toContain('libbroken.so');
  });

  it('without --provider, keys commands use the packages that load', () => {
    expect(box.run(['keys', 'create', 'k', '--algorithm', 'ECDSA-P256']).code).toBe(0);
    const list = parse<{ keys: { ref: string }[] }>(box.run(['keys', 'list', '--json']));
    expect(list.keys.map((k) => k.ref)).toContain('keystore:fake:user:k');
  });
});

describe('keys list when one provider cannot list', () => {
  let box: Sandbox;
  // Two test doubles with their own stores; "b" fails to enumerate, as Wine's CNG does.
  const faults = { KEYSTORE_FAKE_FAULTS: 'b:list-unsupported' };
  beforeAll(() => {
    box = new Sandbox();
    box.installFakeProvider({ id: 'a', ownStore: true });
    box.installFakeProvider({ id: 'b', ownStore: true });
    box.seedFakeKey('a', 'kept', { algorithm: 'ECDSA-P256' });
    box.seedFakeKey('b', 'hidden', { algorithm: 'ECDSA-P256' });
  });
  afterAll(() => box.cleanup());

  it("shows the other providers' keys, reports the failure, and exits 5 (--json)", () => {
    const r = box.run(['keys', 'list', '--json'], { env: faults });
    expect(r.code).toBe(5);
    const out = parse<{ keys: { ref: string }[]; errors: { provider: string; code: string; message: string }[] }>(r);
    expect(out.keys.map((k) => k.ref)).toEqual(['keystore:a:user:kept']);
    expect(out.errors).toEqual([
      { provider: 'b', code: 'ERR_KEYSTORE_UNSUPPORTED_OPERATION', message: expect.stringContaining('enumerate') },
    ]);
    expect(stderrLines(r)).toEqual([
      expect.stringMatching(/^keystore: b could not list its keys: .+ \(ERR_KEYSTORE_UNSUPPORTED_OPERATION\)$/),
    ]);
  });

  it('text output: the keys on stdout, one line per failure on stderr, exit 5', () => {
    const r = box.run(['keys', 'list'], { env: faults });
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/^keystore:a:user:kept +ECDSA-P256$/m);
    expect(stderrLines(r)).toHaveLength(1);
  });

  it('exit 0 and errors: [] when every provider answers; --provider b fails as a whole', () => {
    const all = box.run(['keys', 'list', '--json']);
    expect(all.code, all.stderr).toBe(0);
    const out = parse<{ keys: { ref: string }[]; errors: unknown[] }>(all);
    expect(out.errors).toEqual([]);
    expect(out.keys.map((k) => k.ref).sort()).toEqual(['keystore:a:user:kept', 'keystore:b:user:hidden']);
    const named = box.run(['keys', 'list', '--provider', 'b', '--json'], { env: faults });
    expect(named.code).toBe(5);
    expect(parse<ErrorOut>(named).error.code).toBe('ERR_KEYSTORE_UNSUPPORTED_OPERATION');
  });
});
