import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { at, type Ctx, type Warn } from './problems.js';
import { resolvePath } from './files.js';
import { isObject, kindOf, notOneOf, required } from './issues.js';
import { given, inlineSecret, secretFile, twins } from './secrets.js';
import type { SinkConfig } from './config.js';
import { duration, fileMode, filePath, flag, text, webhookUrl } from './values.js';
import { isLoopbackHost } from '../loopback.js';

const TYPES = ['file', 'exec', 'webhook'];
const MIN_TIMEOUT_MS = 100;

/** Where each new token goes; the keys allowed depend on the type. */
export function sinkSchema(ctx: Ctx) {
  const file = z.strictObject({
    type: z.literal('file'),
    path: required(filePath(ctx), 'give the file to write the token to'),
    format: z.enum(['json', 'env']).default('json'),
    mode: fileMode.prefault('0600'),
    // A numeric gid is as good as a name; YAML hands it over as a number.
    group: z
      .preprocess(
        (value) => (typeof value === 'number' && Number.isInteger(value) && value >= 0 ? String(value) : value),
        text,
      )
      .optional(),
  });
  const exec = z.strictObject({
    type: z.literal('exec'),
    command: required(
      z
        .array(text, {
          error: (issue) =>
            `must be a list (argv), not ${kindOf(issue.input)} — write ["systemctl", "reload", "my-bot"]; no shell runs it`,
        })
        .min(1, 'is empty — give at least the program to run')
        // `./hooks/reload.sh` means next to the config, like every other relative path in it; a
        // bare name (`systemctl`) is left for PATH to find.
        .transform(([program = '', ...args]) => [
          program.includes('/') && !isAbsolute(program) ? resolvePath(ctx, program) : program,
          ...args,
        ]),
      'give the program and its arguments as a list, like ["systemctl", "reload", "my-bot"]',
    ),
    timeout: duration(MIN_TIMEOUT_MS).prefault('30s'),
  });
  const webhook = z.strictObject({
    type: z.literal('webhook'),
    url: required(webhookUrl, 'give the URL to POST to'),
    secret: inlineSecret('secret', 'secretFile').optional(),
    secretFile: secretFile(ctx).optional(),
    includeToken: flag.default(false),
    timeout: duration(MIN_TIMEOUT_MS).prefault('10s'),
  });
  return twins(
    [['secret', 'secretFile']],
    z.discriminatedUnion('type', [file, exec, webhook], {
      error: (issue) => {
        if (!isObject(issue.input))
          return `must be a mapping with a type (${TYPES.join(', ')}), not ${kindOf(issue.input)}`;
        // Without a known type the other keys cannot be judged, so they are not.
        const type = issue.input['type'];
        return type === undefined ? `missing — use ${TYPES.join(', ')}` : notOneOf(type, TYPES);
      },
    }),
  );
}

export function toSinkConfig(sink: z.output<ReturnType<typeof sinkSchema>>, path: string, warn: Warn): SinkConfig {
  switch (sink.type) {
    case 'file':
      if ((sink.mode & 0o007) !== 0) {
        const octal = sink.mode.toString(8).padStart(4, '0');
        warn(
          at(path, 'mode'),
          `${octal} lets every user on this machine read the token — use 0600, or 0640 with group`,
        );
      }
      return { type: 'file', path: sink.path, format: sink.format, mode: sink.mode, group: sink.group };
    case 'exec':
      return { type: 'exec', command: sink.command, timeoutMs: sink.timeout };
    case 'webhook': {
      const url = new URL(sink.url);
      if (sink.includeToken && url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
        warn(at(path, 'includeToken'), 'sends the token over plain http to another machine — use https');
      }
      const secret = given(path, 'secret', 'secretFile', sink.secret, sink.secretFile, warn);
      return {
        type: 'webhook',
        url: sink.url,
        secret: secret?.value,
        includeToken: sink.includeToken,
        timeoutMs: sink.timeout,
      };
    }
  }
}
