import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Clock } from '../clock.js';
import type { DhanState, SimRequest } from './dhan-state.js';
import { parseAccountOptions, parseAppBody } from './accounts.js';
import { loginPage } from './login-page.js';
import type { FaultBook } from './faults.js';
import { dhanError, hugeJson, rateLimitBody, type Reply } from './responses.js';
import type { SimEndpoint } from './simulator-api.js';

const ROUTES: Readonly<Record<string, { readonly endpoint: SimEndpoint; readonly method: string }>> = {
  '/app/generateAccessToken': { endpoint: 'generate', method: 'POST' },
  '/v2/RenewToken': { endpoint: 'renew', method: 'GET' },
  '/v2/profile': { endpoint: 'profile', method: 'GET' },
  '/app/generate-consent': { endpoint: 'consent-generate', method: 'POST' },
  '/app/consumeApp-consent': { endpoint: 'consent-consume', method: 'GET' },
};

const LOGIN_PATH = '/login/consentApp-login';

const DEFAULT_HUGE_BYTES = 2 * 1024 * 1024;
const MAX_CONTROL_BODY_BYTES = 1024 * 1024;

export interface SimServer {
  readonly server: Server;
  /** Stops pending `delay` faults from doing their work after the server closed. */
  readonly cancelDelays: () => void;
}

/** The HTTP face of the simulator: Dhan's routes, fault injection and the `/__sim/` control surface. */
export function createSimServer(state: DhanState, faults: FaultBook, clock: Clock): SimServer {
  const delays = new Set<{ timer: NodeJS.Timeout; resolve: (ran: boolean) => void }>();

  /** Real time on purpose: delays exist to trip the client's (real) request timeout. */
  const realDelay = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          delays.delete(entry);
          resolve(true);
        }, ms),
        resolve,
      };
      delays.add(entry);
    });

  const send = (
    res: ServerResponse,
    status: number,
    text: string | undefined,
    contentType = 'application/json',
  ): void => {
    // Node's automatic Date would be real time; Dhan's Date must follow the injected clock.
    res.sendDate = false;
    res.setHeader('date', new Date(clock.now()).toUTCString());
    res.setHeader('content-type', contentType);
    if (text === undefined) {
      res.writeHead(status).end();
      return;
    }
    res.setHeader('content-length', Buffer.byteLength(text));
    res.writeHead(status).end(text);
  };
  const reply = (res: ServerResponse, { status, body }: Reply): void => send(res, status, JSON.stringify(body));

  async function dhanRoute(req: IncomingMessage, res: ServerResponse, url: URL, endpoint: SimEndpoint, method: string) {
    // Dhan's endpoints take no body we read; drain it so keep-alive connections stay usable.
    req.resume();
    const request: SimRequest = {
      query: url.searchParams,
      header: (name) => {
        const value = req.headers[name];
        return Array.isArray(value) ? value[0] : value;
      },
    };
    const clientId = state.requestedClientId(endpoint, request);
    state.countCall(endpoint, clientId);
    if (endpoint === 'generate') state.noteGenerationCode(request);
    // Some clients send the consent exchange as a POST, and Dhan is reported to answer it alike.
    const methodOk = req.method === method || (endpoint === 'consent-consume' && req.method === 'POST');
    if (!methodOk) {
      if (endpoint === 'renew') state.countWrongMethod();
      reply(res, dhanError('DH-905'));
      return;
    }

    const action = faults.take(endpoint, clientId);
    switch (action?.type) {
      case undefined:
        break;
      case 'delay': {
        // 'close' on the response before it ended: the client hung up while we held it.
        const hold = { clientGone: false };
        res.once('close', () => {
          hold.clientGone = !res.writableEnded;
        });
        if (!(await realDelay(action.ms))) return;
        if (hold.clientGone && action.onDisconnect === 'discard') return;
        break;
      }
      case 'status':
        reply(res, { status: action.status, body: action.body ?? { message: STATUS_CODES[action.status] ?? 'fault' } });
        return;
      case 'dhan-error':
        reply(res, dhanError(action.code, action.status === undefined ? {} : { status: action.status }));
        return;
      case 'rate-limit-body':
        reply(res, rateLimitBody(action.status));
        return;
      case 'raw':
        send(res, action.status ?? 200, action.body, action.contentType);
        return;
      case 'huge-body':
        send(res, 200, hugeJson(action.bytes ?? DEFAULT_HUGE_BYTES));
        return;
      case 'drop':
        req.socket.destroy();
        return;
      case 'drop-after-commit':
        state.handle(endpoint, request);
        req.socket.destroy();
        return;
      case 'no-token':
        if (action.commit === true) state.handle(endpoint, request);
        reply(res, { status: 200, body: { status: 'success' } });
        return;
    }
    reply(res, state.handle(endpoint, request));
  }

  async function controlRoute(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (path === '/__sim/faults' && method === 'POST') {
      const id = faults.add(await readJson(req));
      reply(res, { status: 201, body: { id } });
      return;
    }
    if (path === '/__sim/faults' && method === 'DELETE') {
      faults.clear();
      send(res, 204, undefined);
      return;
    }
    if (path === '/__sim/stats' && method === 'GET') {
      reply(res, { status: 200, body: state.stats() });
      return;
    }
    const consent = /^\/__sim\/consents\/([^/]+)\/approve$/.exec(path);
    if (consent?.[1] !== undefined && method === 'POST') {
      req.resume();
      const approval = state.approveConsent(decodeURIComponent(consent[1]));
      if ('problem' in approval) reply(res, { status: 404, body: { error: approval.problem } });
      else reply(res, { status: 200, body: approval });
      return;
    }
    const match = /^\/__sim\/accounts\/([^/]+)(\/kill|\/web-token|\/app)?$/.exec(path);
    const clientId = match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
    if (match && clientId !== undefined) {
      if (!state.hasAccount(clientId)) {
        reply(res, { status: 404, body: { error: `no simulated account ${clientId}` } });
        return;
      }
      const action = match[2];
      if (action === '/kill' && method === 'POST') {
        state.killTokens(clientId);
        send(res, 204, undefined);
        return;
      }
      if (action === '/web-token' && method === 'POST') {
        const { accessToken, expiryTime } = state.issueWebToken(clientId);
        reply(res, { status: 201, body: { accessToken, expiryTime } });
        return;
      }
      if (action === '/app' && method === 'PUT') {
        state.registerApp(clientId, parseAppBody(await readJson(req)));
        send(res, 204, undefined);
        return;
      }
      if (action === undefined && method === 'PATCH') {
        state.setAccountOptions(clientId, parseAccountOptions(await readJson(req)));
        send(res, 204, undefined);
        return;
      }
    }
    notFound(req, res);
  }

  /**
   * Dhan's login page, reduced to its outcome: a person sees whose login it is and approves with
   * one button (no OTP or PIN here: the simulator checks nothing a browser would type). The
   * approval answers 302 to the registered redirect URL with `?tokenId=`, as Dhan does.
   */
  async function loginRoute(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const html = (status: number, page: string): void => send(res, status, page, 'text/html; charset=utf-8');
    if (req.method === 'GET') {
      req.resume();
      const consentAppId = url.searchParams.get('consentAppId') ?? '';
      const subject = state.consentPage(consentAppId);
      if (!subject) html(404, loginPage({ kind: 'gone' }));
      else html(200, loginPage({ kind: 'login', consentAppId, ...subject }));
      return;
    }
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readText(req));
      const approval = state.approveConsent(form.get('consentAppId') ?? '');
      if ('problem' in approval) {
        html(400, loginPage({ kind: 'refused', problem: approval.problem }));
        return;
      }
      res.setHeader('location', approval.location);
      send(res, 302, '', 'text/plain');
      return;
    }
    notFound(req, res);
  }

  function notFound(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    reply(res, { status: 404, body: { error: `no route for ${req.method ?? '?'} ${req.url ?? ''}` } });
  }

  const server = createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://sim.invalid');
    } catch {
      // A request target that URL cannot parse must not take the simulator down with it.
      notFound(req, res);
      return;
    }
    const route = ROUTES[url.pathname];
    if (route) {
      // A throw here is a simulator bug: show it as Dhan's own 500 rather than hang the client.
      dhanRoute(req, res, url, route.endpoint, route.method).catch(() => fail(res, dhanError('DH-908')));
    } else if (url.pathname === LOGIN_PATH) {
      loginRoute(req, res, url).catch(() => fail(res, { status: 500, body: { error: 'login page failed' } }));
    } else if (url.pathname.startsWith('/__sim/')) {
      // Control input is validated by throwing: the message names what to fix.
      controlRoute(req, res, url.pathname).catch((err: unknown) =>
        fail(res, { status: 400, body: { error: err instanceof Error ? err.message : String(err) } }),
      );
    } else {
      notFound(req, res);
    }
  });

  function fail(res: ServerResponse, answer: Reply): void {
    if (!res.headersSent && !res.destroyed) reply(res, answer);
  }

  return {
    server,
    cancelDelays: () => {
      for (const entry of delays) {
        clearTimeout(entry.timer);
        entry.resolve(false);
      }
      delays.clear();
    },
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  try {
    return JSON.parse(await readText(req)) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error('control body must be JSON', { cause: err });
    throw err;
  }
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_CONTROL_BODY_BYTES) throw new Error('control body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}
