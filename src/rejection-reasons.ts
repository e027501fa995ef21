/*
 * Why the token API refused a request: a small fixed set, since it is a metric label. It lives
 * below both the server, which refuses, and the metrics registry, which counts (the registry
 * never imports the server: docs/architecture.md, "Layers").
 */

export type RejectionReason =
  | 'no-keys'
  | 'missing-key'
  | 'bad-scheme'
  | 'unknown-key'
  | 'forbidden'
  | 'unknown-client'
  | 'bad-request'
  | 'not-found'
  | 'bad-method'
  | 'body'
  | 'connection-shed';

export const REJECTION_REASONS: readonly RejectionReason[] = [
  'no-keys',
  'missing-key',
  'bad-scheme',
  'unknown-key',
  'forbidden',
  'unknown-client',
  'bad-request',
  'not-found',
  'bad-method',
  'body',
  'connection-shed',
];
