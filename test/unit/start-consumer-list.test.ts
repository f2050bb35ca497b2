/**
 * The consumer list that npm start, the pipeline page and npm run dlq are driven by, against the
 * convention every entry must follow: consumers/<name>/definition.ts exports the definition
 * (same name and health port), main.ts only runs it, package.json's consumer:<name> runs main.ts.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HEALTH_PORTS } from '../../consumers/core/config.js';
import { CONSUMERS, consumerEntry } from '../../scripts/operator/consumer-list.js';
import { consumerTargets } from '../../scripts/operator/targets.js';

const ROOT = resolve(import.meta.dirname, '../..');
const scripts = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

describe('the consumer list', () => {
  it('has the consumers that exist, each once', () => {
    const names = CONSUMERS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['elasticsearch', 'redis']));
  });

  describe.each(CONSUMERS.map((c) => [c.name, c] as const))('%s', (name, entry) => {
    it('has a definition with the same name and health port, that starts nothing when imported', async () => {
      const definition = await entry.load();
      expect(definition.name).toBe(name);
      expect(definition.defaultHealthPort).toBe(entry.healthPort);
      expect(DEFAULT_HEALTH_PORTS[name] ?? entry.healthPort).toBe(entry.healthPort);
      expect(typeof definition.createSink).toBe('function');
    });

    it('main.ts only runs the definition', () => {
      const main = readFileSync(resolve(ROOT, entry.main), 'utf8');
      expect(entry.main).toBe(`consumers/${name}/main.ts`);
      expect(main).toMatch(/import \{ definition \} from '\.\/definition\.js';/);
      expect(main).toMatch(/^await runConsumer\(definition\);$/m);
    });

    it(`package.json's ${entry.npmScript} runs the same entrypoint`, () => {
      expect(entry.npmScript).toBe(`consumer:${name}`);
      expect(scripts[entry.npmScript]).toBe(`tsx ${entry.main}`);
    });
  });

  it('resolves each consumer the way the consumer itself is configured', () => {
    const [target] = consumerTargets({ REDIS_CONSUMER_GROUP: 'g', REDIS_HEALTH_PORT: '19102', TOPIC_PREFIX: 'shop' }, ['redis']);
    expect(target!.config).toMatchObject({ groupId: 'g', healthPort: 19102, deadLetterTopic: 'shop.dlq.redis' });
    expect(target!.healthUrl).toBe('http://127.0.0.1:19102');
    expect(consumerTargets({}, ['elasticsearch'])[0]!.healthUrl).toBe('http://127.0.0.1:9101');
    expect(() => consumerEntry('nope')).toThrow(/unknown consumer 'nope' \(known: /);
  });

  it('npm start, npm run dashboard and npm run dlq are scripts of the package', () => {
    expect(scripts.start).toBe('bash scripts/start.sh');
    expect(scripts.dashboard).toBe('tsx dashboard/main.ts');
    expect(scripts.dlq).toBe('tsx scripts/dlq.ts');
  });
});
