/**
 * The floor under a quiet keeper's CPU: a bare Node process making the keeper's probe calls
 * (`GET /v2/profile` with global fetch, the client the keeper uses) at the rate the keeper
 * made them, in the keeper's pattern (the calls due in each 5 s slot run back to back, at most
 * `dhan.maxConcurrency` at once). What the keeper spends beyond this is its own.
 *
 * Usage: bare-prober <simulator base URL> <calls per second> <seconds>; prints JSON.
 */
const [baseUrl, rateText, secondsText] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const SLOT_MS = 5_000;
const CONCURRENCY = 4;

const call = async (): Promise<void> => {
  const res = await fetch(`${baseUrl}/v2/profile`, {
    headers: { accept: 'application/json', 'access-token': 'bench-floor' },
  });
  await res.text();
};

async function main(): Promise<void> {
  // Warm, as the keeper is by the time its idle is measured.
  for (let i = 0; i < 200; i++) await call();
  const before = process.cpuUsage();
  const end = Date.now() + seconds * 1000;
  let calls = 0;
  let owed = 0;
  while (Date.now() < end) {
    owed += (rate * SLOT_MS) / 1000;
    const due = Math.floor(owed);
    owed -= due;
    let started = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (started < due) {
          started++;
          await call();
          calls++;
        }
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, SLOT_MS));
  }
  const used = process.cpuUsage(before);
  process.stdout.write(`${JSON.stringify({ calls, cpuPct: ((used.user + used.system) / 1e6 / seconds) * 100 })}\n`);
}

void main();
