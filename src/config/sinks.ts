import { isAbsolute } from 'node:path';
import { at, type Ctx } from './context.js';
import { UNRESOLVED } from './env.js';
import { boolean, checkKeys, duration, isAbsent, isObject, kindOf, list, oneOf, string } from './fields.js';
import { resolvePath } from './files.js';
import { readSecret } from './secrets.js';
import type { ExecSinkConfig, FileSinkConfig, SinkConfig, WebhookSinkConfig } from './types.js';
import { fileMode, isLoopback, webhookUrl } from './values.js';

const TYPES = ['file', 'exec', 'webhook'] as const;
const KEYS: Readonly<Record<(typeof TYPES)[number], readonly string[]>> = {
  file: ['type', 'path', 'format', 'mode', 'group'],
  exec: ['type', 'command', 'timeout'],
  webhook: ['type', 'url', 'secret', 'secretFile', 'includeToken', 'timeout'],
};
const MIN_TIMEOUT_MS = 100;

/** `files` maps each file sink path seen so far, across accounts, to the key that named it. */
export function sinks(ctx: Ctx, path: string, value: unknown, files: Map<string, string>): SinkConfig[] {
  return list(ctx, path, value).flatMap((item, i) => {
    const sink = oneSink(ctx, at(path, i), item, files);
    return sink === undefined ? [] : [sink];
  });
}

function oneSink(ctx: Ctx, path: string, value: unknown, files: Map<string, string>): SinkConfig | undefined {
  if (value === UNRESOLVED) return undefined;
  if (!isObject(value)) {
    ctx.problems.error(path, `must be a mapping with a type (${TYPES.join(', ')}), not ${kindOf(value)}`);
    return undefined;
  }
  if (isAbsent(value['type'])) {
    ctx.problems.error(at(path, 'type'), `missing — use ${TYPES.join(', ')}`);
    return undefined;
  }
  // Without a known type the other keys cannot be judged, so they are not.
  const type = oneOf(ctx, at(path, 'type'), value['type'], TYPES);
  if (type === undefined) return undefined;
  checkKeys(ctx, path, value, KEYS[type]);
  switch (type) {
    case 'file':
      return fileSink(ctx, path, value, files);
    case 'exec':
      return execSink(ctx, path, value);
    case 'webhook':
      return webhookSink(ctx, path, value);
  }
}

function fileSink(ctx: Ctx, path: string, obj: Readonly<Record<string, unknown>>, files: Map<string, string>): FileSinkConfig {
  let file: string | undefined;
  if (isAbsent(obj['path'])) ctx.problems.error(at(path, 'path'), 'missing — give the file to write the token to');
  else file = string(ctx, at(path, 'path'), obj['path']);
  if (file !== undefined) {
    file = resolvePath(ctx, file);
    // Two sinks replacing the same file would each clobber the other's token.
    const earlier = files.get(file);
    if (earlier !== undefined) ctx.problems.error(at(path, 'path'), `${file} is also written by ${earlier} — give each sink its own file`);
    else files.set(file, at(path, 'path'));
  }
  const format = isAbsent(obj['format']) ? 'json' : oneOf(ctx, at(path, 'format'), obj['format'], ['json', 'env'] as const);
  const mode = isAbsent(obj['mode']) ? 0o600 : fileMode(ctx, at(path, 'mode'), obj['mode']);
  if (mode !== undefined && (mode & 0o007) !== 0) {
    const octal = mode.toString(8).padStart(4, '0');
    ctx.problems.warn(at(path, 'mode'), `${octal} lets every user on this machine read the token — use 0600, or 0640 with group`);
  }
  let group: string | undefined;
  if (!isAbsent(obj['group'])) {
    // A numeric gid is as good as a name; YAML hands it over as a number.
    const raw = obj['group'];
    group = typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? String(raw) : string(ctx, at(path, 'group'), raw);
  }
  return {
    type: 'file',
    path: file ?? '',
    format: format ?? 'json',
    mode: mode ?? 0o600,
    group,
  };
}

function execSink(ctx: Ctx, path: string, obj: Readonly<Record<string, unknown>>): ExecSinkConfig {
  const commandPath = at(path, 'command');
  const raw = obj['command'];
  let command: string[] = [];
  if (isAbsent(raw)) {
    ctx.problems.error(commandPath, 'missing — give the program and its arguments as a list, like ["systemctl", "reload", "my-bot"]');
  } else if (!Array.isArray(raw)) {
    ctx.problems.error(
      commandPath,
      `must be a list (argv), not ${kindOf(raw)} — write ["systemctl", "reload", "my-bot"]; no shell runs it`,
    );
  } else if (raw.length === 0) {
    ctx.problems.error(commandPath, 'is empty — give at least the program to run');
  } else {
    command = raw.map((arg: unknown, i) => string(ctx, at(commandPath, i), arg) ?? '');
    // `./hooks/reload.sh` means next to the config, like every other relative path in it; a
    // bare name (`systemctl`) is left for PATH to find.
    const program = command[0];
    if (program !== undefined && program.includes('/') && !isAbsolute(program)) command[0] = resolvePath(ctx, program);
  }
  const timeoutMs = isAbsent(obj['timeout']) ? 30_000 : duration(ctx, at(path, 'timeout'), obj['timeout'], { minMs: MIN_TIMEOUT_MS });
  return { type: 'exec', command, timeoutMs: timeoutMs ?? 30_000 };
}

function webhookSink(ctx: Ctx, path: string, obj: Readonly<Record<string, unknown>>): WebhookSinkConfig {
  let url: string | undefined;
  if (isAbsent(obj['url'])) ctx.problems.error(at(path, 'url'), 'missing — give the URL to POST to');
  else url = webhookUrl(ctx, at(path, 'url'), obj['url']);
  const secret = readSecret(ctx, obj, path, 'secret', 'secretFile');
  const includeToken = isAbsent(obj['includeToken']) ? false : boolean(ctx, at(path, 'includeToken'), obj['includeToken']);
  if (includeToken === true && url !== undefined) {
    const parsed = new URL(url);
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (parsed.protocol === 'http:' && !isLoopback(host)) {
      ctx.problems.warn(at(path, 'includeToken'), 'sends the token over plain http to another machine — use https');
    }
  }
  const timeoutMs = isAbsent(obj['timeout']) ? 10_000 : duration(ctx, at(path, 'timeout'), obj['timeout'], { minMs: MIN_TIMEOUT_MS });
  return {
    type: 'webhook',
    url: url ?? '',
    secret: secret.state === 'ok' ? secret.value : undefined,
    includeToken: includeToken ?? false,
    timeoutMs: timeoutMs ?? 10_000,
  };
}
