import type { SimEndpoint, SimFault, SimFaultAction } from './simulator-api.js';

interface Entry {
  readonly id: number;
  readonly fault: SimFault;
  remaining: number;
}

const ENDPOINTS: readonly (SimEndpoint | 'any')[] = [
  'generate',
  'renew',
  'profile',
  'consent-generate',
  'consent-consume',
  'any',
];

/** Queued misbehaviours, matched in the order they were added; one fault per request. */
export class FaultBook {
  private entries: Entry[] = [];
  private nextId = 1;

  /** Takes `unknown` because faults also arrive as JSON over the control surface. */
  add(fault: unknown): number {
    const checked = parseFault(fault);
    const id = this.nextId++;
    this.entries.push({ id, fault: checked, remaining: checked.times ?? 1 });
    return id;
  }

  clear(): void {
    this.entries = [];
  }

  /** The first fault for this request, used up by one; `clientId` is the id the request names. */
  take(endpoint: SimEndpoint, clientId: string | undefined): SimFaultAction | undefined {
    const index = this.entries.findIndex(
      ({ fault }) =>
        (fault.endpoint === 'any' || fault.endpoint === endpoint) &&
        (fault.clientId === undefined || fault.clientId === clientId),
    );
    const entry = this.entries[index];
    if (!entry) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.entries.splice(index, 1);
    return entry.fault.action;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStatus(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 100 && (value as number) <= 599;
}

function optional(value: unknown, check: (v: unknown) => boolean): boolean {
  return value === undefined || check(value);
}

const isNonNegativeInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;

/** Checks a fault that may have come over HTTP; a bad one would otherwise misbehave silently. */
export function parseFault(value: unknown): SimFault {
  if (!isRecord(value)) throw new Error('fault must be a JSON object');
  const { endpoint, clientId, times, action } = value;
  if (!ENDPOINTS.includes(endpoint as SimEndpoint)) {
    throw new Error(`fault.endpoint must be one of ${ENDPOINTS.join(', ')}`);
  }
  if (!optional(clientId, (v) => typeof v === 'string')) throw new Error('fault.clientId must be a string');
  if (!optional(times, (v) => Number.isInteger(v) && (v as number) >= 1)) {
    throw new Error('fault.times must be a whole number of at least 1');
  }
  if (!isRecord(action)) throw new Error('fault.action must be an object with a type');
  const problem = actionProblem(action);
  if (problem) throw new Error(`fault.action: ${problem}`);
  // Every field was checked above, action by action.
  return value as unknown as SimFault;
}

function actionProblem(action: Record<string, unknown>): string | undefined {
  switch (action['type']) {
    case 'status':
      return isStatus(action['status']) ? undefined : 'status must be an HTTP status code';
    case 'dhan-error':
      if (typeof action['code'] !== 'string') return 'code must be a string such as "DH-902"';
      return optional(action['status'], isStatus) ? undefined : 'status must be an HTTP status code';
    case 'rate-limit-body':
      return isStatus(action['status']) ? undefined : 'status must be an HTTP status code (200 or 400)';
    case 'delay':
      if (!isNonNegativeInt(action['ms'])) return 'ms must be a whole number of milliseconds';
      return optional(action['onDisconnect'], (v) => v === 'process' || v === 'discard')
        ? undefined
        : 'onDisconnect must be "process" or "discard"';
    case 'raw':
      if (typeof action['body'] !== 'string') return 'body must be a string';
      if (!optional(action['status'], isStatus)) return 'status must be an HTTP status code';
      return optional(action['contentType'], (v) => typeof v === 'string') ? undefined : 'contentType must be a string';
    case 'huge-body':
      return optional(action['bytes'], isNonNegativeInt) ? undefined : 'bytes must be a whole number';
    case 'drop':
    case 'drop-after-commit':
      return undefined;
    case 'no-token':
      return optional(action['commit'], (v) => typeof v === 'boolean') ? undefined : 'commit must be a boolean';
    default:
      return 'type must be one of status, dhan-error, rate-limit-body, delay, raw, huge-body, drop, drop-after-commit, no-token';
  }
}
