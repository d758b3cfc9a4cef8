/**
 * Audit events, published on `node:diagnostics_channel` under {@link AUDIT_CHANNEL_NAME}. Events say
 * who did what with which key; they never carry key material, passwords, or the data signed.
 *
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { KeyAlgorithm } from './algorithms.js';
import type { IsolationLevel } from './isolation.js';
import type { MachinePolicySource } from './types.js';

/**
 * The name of the diagnostics channel audit events are published on.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * import { AUDIT_CHANNEL_NAME, type AuditEvent } from '@keystore/core';
 * diagnosticsChannel.subscribe(AUDIT_CHANNEL_NAME, (message) => {
 *   const event = message as AuditEvent;
 *   console.log(event.time, event.type);
 * });
 * ```
 * @since 0.1.0
 */
export const AUDIT_CHANNEL_NAME = 'keystore:audit';

/**
 * The audit channel itself (`diagnostics_channel.channel(AUDIT_CHANNEL_NAME)`). Subscribe to it, or
 * to its name with `diagnostics_channel.subscribe`. Nothing is built or published while it has no
 * subscribers.
 *
 * @example
 * ```ts
 * const onEvent = (message: unknown) => log.info(message as AuditEvent);
 * auditChannel.subscribe(onEvent);
 * // … later
 * auditChannel.unsubscribe(onEvent);
 * ```
 * @since 0.1.0
 */
export const auditChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(AUDIT_CHANNEL_NAME);

/**
 * What was done with a key's private part, in a `key.used` event.
 *
 * @since 0.1.0
 */
export type AuditOperation = 'sign' | 'decrypt' | 'derive' | 'export-private';

/**
 * An event about one key: created, imported (since 0.2.0), opened, used (with the operation), or
 * deleted. An import event names the key it made, never the key material it was given.
 *
 * @since 0.1.0
 */
export interface AuditKeyEvent {
  /** What happened. */
  readonly type: 'key.created' | 'key.imported' | 'key.opened' | 'key.used' | 'key.deleted';
  /** When (ISO 8601). */
  readonly time: string;
  /** The provider holding the key. */
  readonly providerId: string;
  /** The key's reference string. */
  readonly ref: string;
  /** The key's algorithm, when known. */
  readonly algorithm?: KeyAlgorithm;
  /** For `key.used`: the operation. */
  readonly operation?: AuditOperation;
  /** The isolation the key achieved, when known. */
  readonly isolation?: IsolationLevel;
}

/**
 * What a policy decision was about (`import` since 0.2.0).
 *
 * @since 0.1.0
 */
export type AuditAction = 'create' | 'import' | 'open' | 'list' | 'delete' | 'export-private';

/**
 * A policy decision: a request allowed (and which provider serves it) or refused (and why).
 *
 * @since 0.1.0
 */
export interface AuditPolicyDecisionEvent {
  /** Always `policy.decision`. */
  readonly type: 'policy.decision';
  /** When (ISO 8601). */
  readonly time: string;
  /** What was asked. */
  readonly action: AuditAction;
  /** Whether it was allowed. */
  readonly outcome: 'allowed' | 'refused';
  /** The provider that serves it, or `null`. */
  readonly selected: string | null;
  /** Why, one sentence each (for a refusal, every provider's reasons, prefixed by its id). */
  readonly reasons: readonly string[];
  /** The key's reference, when one is known. */
  readonly ref?: string;
  /** The algorithm asked for, when one was. */
  readonly algorithm?: KeyAlgorithm;
}

/**
 * A machine policy source replaced or dropped (only the test hatch of `@keystore/core/testing` can):
 * published when a store or a provider is built that way, so that a monitor sees a ceiling lifted.
 *
 * @since 0.3.0
 */
export interface AuditPolicyOverrideEvent {
  /** Always `policy.override`. */
  readonly type: 'policy.override';
  /** When (ISO 8601). */
  readonly time: string;
  /** The machine source overridden. */
  readonly source: MachinePolicySource;
  /** How: an option given in code, or the environment. */
  readonly by: 'option' | 'environment';
  /** The option's or the environment variable's name. */
  readonly name: string;
  /** What the override does. */
  readonly detail: string;
}

/**
 * Every audit event. Switch on `type`.
 *
 * @example
 * ```ts
 * auditChannel.subscribe((message) => {
 *   const event = message as AuditEvent;
 *   if (event.type === 'policy.decision' && event.outcome === 'refused') alert(event.reasons);
 * });
 * ```
 * @since 0.1.0
 */
export type AuditEvent = AuditKeyEvent | AuditPolicyDecisionEvent | AuditPolicyOverrideEvent;

/** Publishes `event` (built lazily) when someone listens. */
export function publishAudit(build: () => AuditEvent): void {
  if (auditChannel.hasSubscribers) auditChannel.publish(build());
}
