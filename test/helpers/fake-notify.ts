import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * A loopback stand-in for Telegram's Bot API, an ntfy server and a webhook receiver at once:
 * it records every request and answers like Telegram ({ok: true}) unless told to fail.
 */
export class FakeNotifyServer {
  readonly received: Received[] = [];
  /** Answer the next N requests with this status. */
  failNext: { status: number; times: number } | undefined;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeNotifyServer> {
    // The handler needs the instance, which needs the server: one mutable box ties them.
    const box: { self?: FakeNotifyServer } = {};
    const server = createServer((req, res) => {
      const self = box.self;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        self?.received.push({
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        const fail = self?.failNext;
        if (fail && fail.times > 0) {
          fail.times--;
          res.writeHead(fail.status, { 'content-type': 'application/json' }).end('{"ok":false}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true,"result":{"message_id":1}}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const self = new FakeNotifyServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    box.self = self;
    return self;
  }

  /** Telegram sendMessage bodies, parsed. */
  telegram(botToken: string): Array<{ chat_id: string; text: string }> {
    return this.received
      .filter((r) => r.path === `/bot${botToken}/sendMessage`)
      .map((r) => JSON.parse(r.body) as { chat_id: string; text: string });
  }

  ntfy(topic: string): Received[] {
    return this.received.filter((r) => r.path === `/${topic}`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
