/**
 * `npm run dashboard`: the pipeline page on its own (npm start serves it too), for consumers
 * started any other way (four terminals, a process manager). Reads `.env` like the consumers, so
 * it finds the same groups, dead-letter topics and health ports. Ctrl-C stops it.
 */
import { ConfigError } from '../consumers/core/config.js';
import { createLogger } from '../consumers/core/logger.js';
import { consumerTargets, operatorEnv } from '../scripts/operator/targets.js';
import { startDashboard } from './server.js';

const env = operatorEnv();
const logger = createLogger({ consumer: 'dashboard', level: env.LOG_LEVEL === 'debug' ? 'debug' : 'info' });
const dashboard = await Promise.resolve().then(() => startDashboard({ targets: consumerTargets(env), env, logger })).catch((error: unknown) => {
  process.stderr.write(`dashboard: ${error instanceof ConfigError ? `configuration error: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
process.stdout.write(`\nPipeline page: ${dashboard.url}  (Ctrl-C to stop)\n\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return; // npm forwards the terminal's Ctrl-C a second time
    stopping = true;
    void dashboard.close().then(() => process.exit(0), (error: unknown) => {
      logger.error({ err: error }, 'dashboard did not close cleanly');
      process.exit(1);
    });
  });
}
