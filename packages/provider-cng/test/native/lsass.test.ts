/**
 * The LSASS lookup over a double of its system calls (service control manager, Toolhelp snapshot,
 * ProcessIdToSessionId, QueryFullProcessImageNameW, GetSystemDirectoryW): a process named lsass.exe
 * counts only from the system directory in session 0, and the posture never rises on one that does
 * not. The real calls run under Wine in ncrypt.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { findLsass, type LookupStep, type LsassLookupCalls } from '../../src/native/lsass.js';
import { measureSoftwareKspPosture } from '../../src/posture.js';
import { createSystemDouble } from '../helpers/ncrypt-double.js';

const ERROR_NOT_FOUND = 1168;
const ERROR_SERVICE_DOES_NOT_EXIST = 1060;
const ERROR_ACCESS_DENIED = 5;

interface FakeProcess {
  pid: number;
  session: LookupStep<number>;
  image: LookupStep<string>;
}

/** A machine whose services and processes a test describes; records which calls were made. */
function machine(options: {
  services?: Record<string, LookupStep<number>>;
  processes?: FakeProcess[];
  snapshot?: LookupStep<number[]>;
  systemDirectory?: LookupStep<string>;
}): LsassLookupCalls & { calls: string[] } {
  const calls: string[] = [];
  const processes = options.processes ?? [];
  const find = (pid: number) => processes.find((p) => p.pid === pid)!;
  return {
    calls,
    servicePid(service) {
      calls.push(`servicePid ${service}`);
      return options.services?.[service] ?? { ok: false, status: ERROR_SERVICE_DOES_NOT_EXIST };
    },
    processesNamed(name) {
      calls.push(`processesNamed ${name}`);
      return options.snapshot ?? { ok: true, value: processes.map((p) => p.pid) };
    },
    sessionOf(pid) {
      calls.push(`sessionOf ${pid}`);
      return find(pid).session;
    },
    imagePathOf(pid) {
      calls.push(`imagePathOf ${pid}`);
      return find(pid).image;
    },
    systemDirectory() {
      calls.push('systemDirectory');
      return options.systemDirectory ?? { ok: true, value: 'C:\\Windows\\system32' };
    },
  };
}

const REAL: FakeProcess = {
  pid: 640,
  session: { ok: true, value: 0 },
  image: { ok: true, value: 'C:\\Windows\\System32\\lsass.exe' },
};
const IN_SESSION_1: FakeProcess = {
  pid: 4242,
  session: { ok: true, value: 1 },
  image: { ok: true, value: 'C:\\Windows\\System32\\lsass.exe' },
};
const ELSEWHERE: FakeProcess = {
  pid: 4343,
  session: { ok: true, value: 0 },
  image: { ok: true, value: 'C:\\Users\\Public\\lsass.exe' },
};

describe('findLsass', () => {
  it('takes the PID the service control manager gives for KeyIso, without looking at process names', () => {
    const m = machine({ services: { KeyIso: { ok: true, value: 812 } }, processes: [IN_SESSION_1] });
    expect(findLsass(m)).toEqual({ ok: true, value: { pid: 812, identifiedBy: 'service control manager (KeyIso)' } });
    expect(m.calls).toEqual(['servicePid KeyIso']);
  });

  it('falls back to SamSs when KeyIso runs in no process or cannot be queried', () => {
    for (const keyIso of [{ ok: true, value: 0 } as const, { ok: false, status: ERROR_ACCESS_DENIED } as const]) {
      const m = machine({ services: { KeyIso: keyIso, SamSs: { ok: true, value: 700 } } });
      expect(findLsass(m)).toEqual({ ok: true, value: { pid: 700, identifiedBy: 'service control manager (SamSs)' } });
    }
  });

  it('a fake lsass.exe in session 1 does not count, even from the system directory', () => {
    const found = findLsass(machine({ processes: [IN_SESSION_1] }));
    expect(found.ok).toBe(false);
    if (found.ok) return;
    expect(found.status).toBe(ERROR_NOT_FOUND);
    expect(found.reason).toContain('pid 4242: runs in session 1');
  });

  it('a fake lsass.exe in session 0 at another path does not count', () => {
    const found = findLsass(machine({ processes: [ELSEWHERE] }));
    expect(found).toMatchObject({ ok: false, status: ERROR_NOT_FOUND });
    expect(!found.ok && found.reason).toContain('C:\\Users\\Public\\lsass.exe, not C:\\Windows\\system32\\lsass.exe');
  });

  it('the session-0 lsass.exe in the system directory counts (path compared without case), among fakes', () => {
    const m = machine({ processes: [IN_SESSION_1, ELSEWHERE, REAL] });
    expect(findLsass(m)).toEqual({
      ok: true,
      value: { pid: 640, identifiedBy: 'session-0 process at C:\\Windows\\System32\\lsass.exe' },
    });
  });

  it('two processes that both pass cannot be told apart: none counts', () => {
    const twin: FakeProcess = { ...REAL, pid: 641 };
    expect(findLsass(machine({ processes: [REAL, twin] }))).toMatchObject({ ok: false, status: ERROR_NOT_FOUND });
  });

  it('what cannot be read does not count: session, image path, system directory', () => {
    const noSession: FakeProcess = { ...REAL, session: { ok: false, status: ERROR_ACCESS_DENIED } };
    const noImage: FakeProcess = { ...REAL, image: { ok: false, status: ERROR_ACCESS_DENIED } };
    expect(findLsass(machine({ processes: [noSession] })).ok).toBe(false);
    expect(findLsass(machine({ processes: [noImage] })).ok).toBe(false);
    expect(findLsass(machine({ processes: [REAL], systemDirectory: { ok: false, status: 122 } })).ok).toBe(false);
  });

  it('no lsass.exe at all, or a failed snapshot, is reported with its status', () => {
    expect(findLsass(machine({}))).toMatchObject({ ok: false, status: ERROR_NOT_FOUND });
    expect(findLsass(machine({ snapshot: { ok: false, status: ERROR_ACCESS_DENIED } }))).toMatchObject({
      ok: false,
      status: ERROR_ACCESS_DENIED,
    });
  });
});

describe('the posture over a lookup that refused a fake lsass.exe', () => {
  it('is in-process (the key isolation service cannot be confirmed), and the evidence names the refused process', () => {
    const found = findLsass(machine({ processes: [IN_SESSION_1, ELSEWHERE] }));
    if (found.ok) throw new Error('a fake lsass.exe was trusted');
    const posture = measureSoftwareKspPosture(
      createSystemDouble({ lsass: { ok: false, status: found.status, reason: found.reason } }),
    );
    expect(posture.level).toBe('in-process');
    expect(posture.best).toBe('in-process');
    expect(posture.evidence.join(' ')).toContain('pid 4242: runs in session 1');
    expect(posture.evidence.join(' ')).not.toContain('keeps the private key in LSASS');
  });
});
