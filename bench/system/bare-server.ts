import { createServer, type ServerResponse } from 'node:http';

/**
 * The baseline: a bare node:http server answering the same JSON body as the keeper's token API,
 * run as its own process like the keeper. `/park` holds requests until `/wake` answers them all
 * with the moment of waking, the baseline of the long-poll measurement.
 */
const port = Number(process.argv[2]);
const body = process.argv[3] ?? '{}';
const parked: ServerResponse[] = [];

const server = createServer((req, res) => {
  if (req.url === '/park') {
    parked.push(res);
    return;
  }
  if (req.url === '/wake') {
    const woken = JSON.stringify({ wokenAt: Date.now() });
    for (const waiting of parked.splice(0)) {
      waiting
        .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(woken) })
        .end(woken);
    }
    res.writeHead(204).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
});
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
