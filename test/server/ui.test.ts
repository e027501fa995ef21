import { afterEach, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import type { UiAction, UiSource } from '../../src/server/ui-types.js';
import { FakeProvider } from '../helpers/fake-provider.js';

const MAIN = '1000000001';
const UI_KEY = 'ui-key-0123456789abcdef';
const TOKEN = 'eyJ.ui-test-token.sig';

class FakeUi implements UiSource {
  readonly submitted: Array<[string, UiAction]> = [];
  facts() {
    return { version: '9.9.9', startedAt: Date.now() - 5_000, role: 'single' as const, clockSkewMs: null, sinks: [] };
  }
  tokenTimes() {
    return undefined;
  }
  history() {
    return Promise.resolve([]);
  }
  avoidIntervals() {
    return [];
  }
  async submit(clientId: string, action: UiAction) {
    this.submitted.push([clientId, action]);
    return { ok: true, message: `${action} done` };
  }
}

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(config: ServerConfig, provider = new FakeProvider({ [MAIN]: 'main' }), ui = new FakeUi()) {
  const server = await startServer({ config, timezone: 'Asia/Kolkata', provider, ui, log: silentLogger() });
  running.push(server);
  return { server, provider, ui };
}

const noKeys: ServerConfig = { listen: { host: '127.0.0.1', port: 0 }, apiKeys: [] };
const withKeys: ServerConfig = {
  listen: { host: '127.0.0.1', port: 0 },
  apiKeys: [{ name: 'trader', key: UI_KEY, clients: [MAIN], ui: true }],
};

describe('the status page routes', () => {
  it('serves the page under a strict CSP, and a read-only view on loopback without keys', async () => {
    const { server, ui } = await start(noKeys);
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    const html = await page.text();
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]+<\/script>|style="/);
    const state = await fetch(`${server.url}/v1/ui/state`);
    expect(state.status).toBe(200);
    const body = (await state.json()) as { viewer: { canAct: string[] }; accounts: unknown[] };
    expect(body.viewer.canAct).toEqual([]);
    expect(body.accounts).toHaveLength(1);
    const action = await fetch(`${server.url}/v1/ui/actions/${MAIN}/renew`, { method: 'POST' });
    expect(action.status).toBe(403);
    expect(((await action.json()) as { error: string }).error).toBe('read-only');
    expect(ui.submitted).toEqual([]);
  });

  it('logs in with a form, sets an opaque HttpOnly cookie, and needs the CSRF token to act', async () => {
    const { server, ui } = await start(withKeys);
    expect((await fetch(`${server.url}/v1/ui/state`)).status).toBe(401);
    const login = await fetch(`${server.url}/ui/login`, {
      method: 'POST',
      body: new URLSearchParams({ key: UI_KEY }),
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^dtk_session=[A-Za-z0-9_-]{40,}; HttpOnly; SameSite=Strict; Path=\//);
    expect(setCookie).not.toContain(UI_KEY);
    const cookie = setCookie.split(';')[0]!;
    const state = (await (await fetch(`${server.url}/v1/ui/state`, { headers: { cookie } })).json()) as {
      viewer: { csrf: string; canAct: string[] };
    };
    expect(state.viewer.canAct).toEqual([MAIN]);
    const url = `${server.url}/v1/ui/actions/${MAIN}/generate`;
    expect((await fetch(url, { method: 'POST', headers: { cookie } })).status).toBe(403);
    const ok = await fetch(url, { method: 'POST', headers: { cookie, 'x-csrf-token': state.viewer.csrf } });
    expect(ok.status).toBe(200);
    expect(ui.submitted).toEqual([[MAIN, 'generate']]);
    expect(
      (await fetch(`${server.url}/v1/ui/actions/${MAIN}/delete`, { method: 'POST', headers: { cookie } })).status,
    ).toBe(404);
    const logout = await fetch(`${server.url}/ui/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
    expect(logout.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect((await fetch(`${server.url}/v1/ui/state`, { headers: { cookie } })).status).toBe(401);
  });

  it('refuses a wrong key at the login form and a login form that is too big', async () => {
    const { server } = await start(withKeys);
    const wrong = await fetch(`${server.url}/ui/login`, {
      method: 'POST',
      body: new URLSearchParams({ key: 'nope' }),
      redirect: 'manual',
    });
    expect(wrong.status).toBe(303);
    expect(wrong.headers.get('location')).toBe('/?login=refused');
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const big = await fetch(`${server.url}/ui/login`, {
      method: 'POST',
      body: 'key=' + 'x'.repeat(10_000),
      redirect: 'manual',
    });
    expect(big.status).toBe(413);
  });

  it('pushes a new state over server-sent events when a token swaps, without a token in it', async () => {
    const { server, provider } = await start(noKeys);
    const res = await fetch(`${server.url}/v1/ui/events`);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    expect(text).toMatch(/^event: state\n/);
    const swappedAt = Date.now();
    provider.swap(MAIN, TOKEN);
    while (!text.includes('"state":"valid"')) text += decoder.decode((await reader.read()).value);
    expect(Date.now() - swappedAt).toBeLessThan(1000);
    expect(text).not.toContain(TOKEN);
    await reader.cancel();
  });
});
