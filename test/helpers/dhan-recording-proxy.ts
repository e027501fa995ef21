import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A proxy in front of the Dhan simulator, one per keeper: the simulator cannot tell keepers
 * apart, so each keeper's `dhan.authBaseUrl`/`apiBaseUrl` points at its own proxy, and the
 * proxy records who called what, when, and what came back.
 *
 * A keeper that dies mid-call closes its connection; the proxy then aborts its own request to
 * the simulator at once, so that the simulator sees the hang-up as it would from the keeper
 * (see the delay fault's `onDisconnect`).
 */

export type DhanEndpoint = 'generate' | 'renew' | 'profile' | 'other';

export interface DhanCall {
  /** Which keeper (its slot) made the call. */
  readonly keeper: number;
  readonly endpoint: DhanEndpoint;
  readonly clientId: string | undefined;
  /** Epoch ms when the request reached the proxy. */
  readonly start: number;
  /** Epoch ms of the answer, or of the hang-up; undefined while in flight. */
  end: number | undefined;
  /** The simulator's status; undefined when the call never got an answer to the keeper. */
  status: number | undefined;
  /** sha256 of the token the answer carried (the proxy never keeps a token itself). */
  tokenHash: string | undefined;
  /** The keeper hung up before the answer. */
  abandoned: boolean;
}

export interface RecordingProxy {
  readonly url: string;
  readonly calls: readonly DhanCall[];
  /** Calls started and not yet answered or abandoned. */
  inFlight(): number;
  /** Called when a call reaches the proxy, before it goes on to the simulator. */
  onCallStart: ((call: DhanCall) => void) | undefined;
  close(): Promise<void>;
}

const PATHS: Readonly<Record<string, DhanEndpoint>> = {
  '/app/generateAccessToken': 'generate',
  '/v2/RenewToken': 'renew',
  '/v2/profile': 'profile',
};

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The simulator's tokens are JWT-shaped with the client id in the payload; opaque ones are not. */
function jwtClientId(token: string | undefined): string | undefined {
  const part = token?.split('.')[1];
  if (part === undefined) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { dhanClientId?: unknown };
    return typeof payload.dhanClientId === 'string' ? payload.dhanClientId : undefined;
  } catch {
    return undefined;
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function clientIdOf(endpoint: DhanEndpoint, url: URL, headers: IncomingHttpHeaders): string | undefined {
  if (endpoint === 'generate') return url.searchParams.get('dhanClientId') ?? undefined;
  if (endpoint === 'renew') return header(headers, 'dhanclientid') ?? jwtClientId(header(headers, 'access-token'));
  return jwtClientId(header(headers, 'access-token'));
}

function answeredToken(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { accessToken?: unknown; token?: unknown };
    const token = parsed.accessToken ?? parsed.token;
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}

export async function startRecordingProxy(keeper: number, target: string): Promise<RecordingProxy> {
  const calls: DhanCall[] = [];
  const upstream = new URL(target);
  const proxy: RecordingProxy = {
    url: '',
    calls,
    inFlight: () => calls.filter((c) => c.end === undefined).length,
    onCallStart: undefined,
    close: () => Promise.resolve(),
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy.invalid');
    const endpoint = PATHS[url.pathname] ?? 'other';
    const call: DhanCall = {
      keeper,
      endpoint,
      clientId: clientIdOf(endpoint, url, req.headers),
      start: Date.now(),
      end: undefined,
      status: undefined,
      tokenHash: undefined,
      abandoned: false,
    };
    calls.push(call);
    proxy.onCallStart?.(call);
    const headers = { ...req.headers, host: upstream.host };
    const out = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent: false },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          if (call.end !== undefined) return;
          const body = Buffer.concat(chunks);
          const token = answeredToken(body.toString('utf8'));
          call.end = Date.now();
          call.status = answer.statusCode;
          call.tokenHash = token === undefined ? undefined : tokenHash(token);
          const passed: Record<string, string> = {};
          for (const name of ['content-type', 'date']) {
            const value = answer.headers[name];
            if (typeof value === 'string') passed[name] = value;
          }
          res.writeHead(answer.statusCode ?? 502, passed).end(body);
        });
        answer.on('error', () => res.destroy());
      },
    );
    out.on('error', () => {
      if (call.end === undefined) call.end = Date.now();
      res.destroy();
    });
    // The keeper hung up (killed, or its own timeout): so does the proxy, towards the simulator.
    res.on('close', () => {
      if (call.end !== undefined) return;
      call.end = Date.now();
      call.abandoned = true;
      out.destroy();
    });
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}
