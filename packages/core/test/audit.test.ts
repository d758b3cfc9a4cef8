import diagnosticsChannel from 'node:diagnostics_channel';
import {
  AUDIT_CHANNEL_NAME,
  type AuditEvent,
  auditChannel,
  type KeyStore,
  type KeyStoreProvider,
} from '@keystore/core';
import { createMemoryProvider, createTestKeyStore } from '@keystore/core/testing';
import { afterEach, describe, expect, it } from 'vitest';

const DEV = { minimumIsolation: 'none' as const, exportable: { create: true, export: true } };

let events: AuditEvent[] = [];
const listener = (message: unknown) => {
  events.push(message as AuditEvent);
};

function listen(): void {
  events = [];
  diagnosticsChannel.subscribe(AUDIT_CHANNEL_NAME, listener);
}

afterEach(() => {
  diagnosticsChannel.unsubscribe(AUDIT_CHANNEL_NAME, listener);
});

async function store(providers: KeyStoreProvider[] = [createMemoryProvider()], policy = DEV): Promise<KeyStore> {
  return createTestKeyStore({ providers, policy, machinePolicy: null });
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('audit channel', () => {
  it('is the diagnostics channel named keystore:audit', () => {
    expect(AUDIT_CHANNEL_NAME).toBe('keystore:audit');
    expect(auditChannel).toBe(diagnosticsChannel.channel('keystore:audit'));
    expect(auditChannel.hasSubscribers).toBe(false);
  });

  it('publishes created, used, opened and deleted events with a policy decision', async () => {
    const s = await store();
    listen();
    const key = await s.createKey('k', { algorithm: 'ECDSA-P256' });
    await key.sign(Buffer.from('data'));
    const opened = await s.openKey(key.ref);
    await s.deleteKey('k');
    expect(events.map((e) => e.type)).toEqual([
      'policy.decision',
      'key.created',
      'key.used',
      'policy.decision',
      'key.opened',
      'policy.decision',
      'key.deleted',
    ]);
    expect(events[0]).toMatchObject({
      type: 'policy.decision',
      action: 'create',
      outcome: 'allowed',
      selected: 'memory',
      algorithm: 'ECDSA-P256',
    });
    expect(events[1]).toEqual({
      type: 'key.created',
      time: expect.stringMatching(ISO),
      providerId: 'memory',
      ref: 'keystore:memory:user:k',
      algorithm: 'ECDSA-P256',
      isolation: 'none',
    });
    expect(events[2]).toMatchObject({ type: 'key.used', operation: 'sign', ref: key.ref, isolation: 'none' });
    expect(events[3]).toMatchObject({ action: 'open', outcome: 'allowed', ref: opened.ref });
    expect(events[6]).toMatchObject({ type: 'key.deleted', providerId: 'memory', ref: key.ref });
  });

  it('publishes a refused decision with every provider reason', async () => {
    const s = await store([createMemoryProvider()], { ...DEV, minimumIsolation: 'hardware' } as never);
    listen();
    await expect(s.createKey('k', { algorithm: 'RSA-2048' })).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_NO_PROVIDER',
    });
    expect(events).toEqual([
      {
        type: 'policy.decision',
        time: expect.stringMatching(ISO),
        action: 'create',
        outcome: 'refused',
        selected: null,
        reasons: ['memory: achieves none, below the floor hardware (/minimumIsolation)'],
        algorithm: 'RSA-2048',
      },
    ]);
  });

  it('publishes a refused decision for a request the policy forbids, and for a private-key export', async () => {
    const s = await store([createMemoryProvider()], { minimumIsolation: 'none' } as never);
    const key = await s.createKey('k', { algorithm: 'ECDSA-P256' });
    listen();
    await expect(s.createKey('x', { algorithm: 'ECDSA-P256', exportable: true })).rejects.toMatchObject({
      code: 'ERR_KEYSTORE_POLICY_VIOLATION',
    });
    await expect(key.exportPrivateKey()).rejects.toMatchObject({ code: 'ERR_KEYSTORE_POLICY_VIOLATION' });
    expect(events.map((e) => e.type === 'policy.decision' && [e.action, e.outcome])).toEqual([
      ['create', 'refused'],
      ['export-private', 'refused'],
    ]);
  });

  it('reports each operation: sign, decrypt, derive, export-private', async () => {
    const crypto = await import('node:crypto');
    const s = await store();
    const rsa = await s.createKey('rsa', { algorithm: 'RSA-2048', exportable: true });
    const ecdh = await s.createKey('ecdh', { algorithm: 'ECDH-P256' });
    listen();
    await rsa.signDigest(Buffer.alloc(32));
    await rsa.decrypt(crypto.publicEncrypt({ key: rsa.publicKey, oaepHash: 'sha256' }, Buffer.from('m')));
    await ecdh.deriveSecret(crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey);
    await rsa.exportPrivateKey();
    expect(events.map((e) => (e.type === 'key.used' ? e.operation : e.type))).toEqual([
      'sign',
      'decrypt',
      'derive',
      'export-private',
    ]);
  });

  it('never carries key material, passwords or the data signed', async () => {
    const s = await store();
    const password = 'correct horse battery staple';
    const secretData = Buffer.from('top secret message 0123456789');
    listen();
    const key = await s.createKey('k', { algorithm: 'RSA-2048', exportable: true, password });
    const signature = await key.sign(secretData);
    const opened = await s.openKey('k', { password });
    await opened.sign(secretData, { padding: 'pss' });
    const privateKey = await key.exportPrivateKey();
    await s.deleteKey(key.ref);

    const jwk = privateKey.export({ format: 'jwk' });
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    const text = JSON.stringify(events);
    expect(events.length).toBeGreaterThan(5);
    for (const part of [jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi]) expect(text).not.toContain(part as string);
    expect(text).not.toContain(pkcs8.toString('base64').slice(40, 80));
    expect(text).not.toContain(pkcs8.toString('hex').slice(80, 160));
    expect(text).not.toContain(password);
    expect(text).not.toContain(secretData.toString());
    expect(text).not.toContain(secretData.toString('hex'));
    expect(text).not.toContain(signature.toString('base64').slice(0, 40));
    for (const event of events) {
      for (const value of Object.values(event)) {
        expect(Buffer.isBuffer(value) || value instanceof Uint8Array).toBe(false);
        expect(typeof value === 'object' && value !== null && 'type' in value && 'export' in value).toBe(false);
      }
    }
  });

  it('builds nothing while nobody listens', async () => {
    const s = await store();
    const key = await s.createKey('k', { algorithm: 'ECDSA-P256' });
    const original = Date.prototype.toISOString;
    let calls = 0;
    Date.prototype.toISOString = function (this: Date) {
      calls++;
      return original.call(this);
    };
    try {
      await key.sign(Buffer.from('x'));
      await key.verify(Buffer.from('x'), Buffer.alloc(8));
      expect(calls).toBe(0);
    } finally {
      Date.prototype.toISOString = original;
    }
  });
});
