/**
 * `npm run dlq -- list / show / replay` on the real stack, against a real Redis consumer process
 * (its own group, dead-letter topic and key prefix):
 * - a sink refusal: an order's cache key turned into a hash by hand makes the consumer's script
 *   fail with WRONGTYPE on the order's next change; list and show find it with its reason, error
 *   and original message; a replay before the cause is fixed fails, is recorded and leaves it
 *   pending; after `DEL` of the bad key a filtered replay applies it through the Redis sink (the
 *   cache then holds the change) and records who did it; replaying it again is skipped, and with
 *   --again after a newer change the sink's row-version guard keeps the newer row.
 * - a decode failure: bytes that are no Debezium event; replay fails ("still not decodable") and
 *   it stays pending, whatever is asked.
 */
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { deleteGroupsAndTopics } from '../helpers/kafka-admin.js';
import {
  cleanSinks, eventually, isolatedRun, runDlq, startConsumer, stopConsumer, waitReady, type ConsumerProcess, type IsolatedRun,
} from '../helpers/operator-processes.js';
import { waitForConnector } from '../helpers/pipeline.js';
import { ShopRows } from '../helpers/shop-rows.js';

interface ListedDeadLetter {
  id: string;
  status: string;
  table: string;
  key: unknown;
  reason: string;
  error: string;
  original: { topic: string; partition: number; offset: string };
  replays: { outcome: string; by: string; via: string; error?: string }[];
}

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'redis'))('npm run dlq (real stack)', () => {
  const run = uniqueName('dlq-cli');
  const garbageTopic = `ecommerce.public.${run.replace(/-/g, '_')}_garbage`;
  let isolated: IsolatedRun;
  let consumer: ConsumerProcess;
  let shop: ShopRows;
  let redis: Redis;
  let kafka: Kafka;
  let orderId: number;
  let sinkDeadLetter: ListedDeadLetter;
  const key = (name: string) => `${run}:${name}`;

  const list = async (...args: string[]): Promise<ListedDeadLetter[]> => {
    const result = await runDlq(['list', '--json', ...args], isolated.env);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as ListedDeadLetter[];
  };

  beforeAll(async () => {
    await waitForConnector();
    // The consumer also reads a topic of this run, for bytes that are no Debezium event.
    isolated = await isolatedRun(run, ['redis'], { TABLES: `customers,products,orders,order_items,public.${garbageTopic.split('.').at(-1)}` });
    kafka = new Kafka({ clientId: run, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    redis = new Redis(engines().redis);
    shop = await ShopRows.connect(engines().postgres, 'Dlq');
    consumer = startConsumer('redis', isolated.env);
    await waitReady(isolated.healthPorts.redis!, 90_000, consumer);

    const customerId = await shop.insertCustomer(`${run}-customer`);
    orderId = await shop.insertOrder(customerId, `${run}-ORDER`);
    await eventually('the consumer to cache the new order', async () => (await redis.get(key(`order:${orderId}`))) !== null);
  });

  afterAll(async () => {
    if (consumer) expect(await stopConsumer(consumer)).toBe(0);
    await shop?.close();
    redis?.disconnect();
    if (kafka) {
      await deleteGroupsAndTopics(kafka, {
        groups: Object.values(isolated.groups),
        topics: [isolated.deadLetterTopics.redis!, `${isolated.deadLetterTopics.redis}.replayed`, garbageTopic],
      });
    }
    await cleanSinks(run);
  });

  it('lists a sink refusal with its table, key, reason and error, and shows its original message', async () => {
    // Someone wrote a hash where the consumer keeps the order's JSON: Redis refuses the next change.
    await redis.del(key(`order:${orderId}`));
    await redis.hset(key(`order:${orderId}`), 'oops', 'by hand');
    await shop.db.query(`UPDATE orders SET status = 'shipped' WHERE id = $1`, [orderId]);

    const [found] = await eventually('the dead letter', async () => {
      const deadLetters = await list('--consumer', 'redis');
      return deadLetters.length > 0 ? deadLetters : undefined;
    }, 90_000, 2_000);
    sinkDeadLetter = found!;
    expect(sinkDeadLetter).toMatchObject({ status: 'pending', table: 'orders', key: { id: orderId }, reason: 'sink', replays: [] });
    expect(sinkDeadLetter.id).toMatch(/^redis:\d+:\d+$/);
    expect(sinkDeadLetter.error).toMatch(/WRONGTYPE/);
    expect(sinkDeadLetter.original.topic).toBe('ecommerce.public.orders');

    const text = await runDlq(['list'], isolated.env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`${sinkDeadLetter.id}\\s+pending\\s+orders\\s+\\{"id":${orderId}\\}\\s+sink`));
    expect(text.stdout).toContain('1 dead letter(s), 1 pending');

    const shown = await runDlq(['show', sinkDeadLetter.id], isolated.env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`original        ecommerce.public.orders partition ${sinkDeadLetter.original.partition} offset ${sinkDeadLetter.original.offset}`);
    expect(shown.stdout).toMatch(/"status": "shipped"/);
    expect(shown.stdout).toMatch(/WRONGTYPE/);
    expect(shown.stdout).toContain('replays         none');

    const json = JSON.parse((await runDlq(['show', sinkDeadLetter.id, '--json'], isolated.env)).stdout) as { message: { value: string } };
    expect((JSON.parse(json.message.value) as { payload: { after: { id: number; status: string } } }).payload.after).toMatchObject({ id: orderId, status: 'shipped' });

    expect((await runDlq(['show', 'redis:0:999999'], isolated.env)).code).toBe(1);
    expect((await runDlq(['show', 'not-an-id'], isolated.env)).code).toBe(1);
  });

  it('a replay before the cause is fixed fails, is recorded and leaves the dead letter pending', async () => {
    const result = await runDlq(['replay', sinkDeadLetter.id, '--by', 'alice'], isolated.env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`${sinkDeadLetter.id}\\s+failed\\s+the sink refused it again: .*WRONGTYPE`));
    const [after] = await list('--consumer', 'redis');
    expect(after).toMatchObject({ id: sinkDeadLetter.id, status: 'pending', replays: [{ outcome: 'failed', by: 'alice', via: 'cli' }] });
    expect(await redis.type(key(`order:${orderId}`))).toBe('hash');
  });

  it('after the fix, a filtered replay writes it through the Redis sink and records who did it', async () => {
    await redis.del(key(`order:${orderId}`));
    const result = await runDlq(['replay', '--consumer', 'redis', '--table', 'orders', '--by', 'bob', '--json'], isolated.env);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([{ id: sinkDeadLetter.id, outcome: 'applied', detail: 'written by the sink' }]);

    const cached = JSON.parse((await redis.get(key(`order:${orderId}`)))!) as { id: number; status: string };
    expect(cached).toMatchObject({ id: orderId, status: 'shipped' });

    const [after] = await list('--consumer', 'redis', '--status', 'replayed');
    expect(after).toMatchObject({ id: sinkDeadLetter.id, status: 'replayed' });
    expect(after!.replays.map((r) => [r.outcome, r.by, r.via])).toEqual([['failed', 'alice', 'cli'], ['applied', 'bob', 'cli']]);
    expect(await list('--consumer', 'redis', '--status', 'pending')).toEqual([]);
  });

  it('replaying it again is skipped; with --again the row-version guard keeps the newer row', async () => {
    const skipped = await runDlq(['replay', sinkDeadLetter.id], isolated.env);
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).toMatch(new RegExp(`${sinkDeadLetter.id}\\s+skipped\\s+already replayed`));

    // A newer change of the row reaches the cache first: the old event must not roll it back.
    await shop.db.query(`UPDATE orders SET status = 'delivered' WHERE id = $1`, [orderId]);
    await eventually('the newer change in the cache', async () => (JSON.parse((await redis.get(key(`order:${orderId}`))) ?? '{}') as { status?: string }).status === 'delivered');
    const again = await runDlq(['replay', sinkDeadLetter.id, '--again', '--json'], isolated.env);
    expect(again.code, again.stderr).toBe(0);
    // The sink settles it without effect. (The Redis sink still answers a refused write with a
    // plain ok rather than `stale`; the replay reports what the sink says.)
    const [outcome] = JSON.parse(again.stdout) as { id: string; outcome: string }[];
    expect(outcome!.id).toBe(sinkDeadLetter.id);
    expect(['stale', 'applied']).toContain(outcome!.outcome);
    expect(JSON.parse((await redis.get(key(`order:${orderId}`)))!)).toMatchObject({ status: 'delivered' });
  });

  it('a message that is no Debezium event is listed as a decode failure and stays pending after a replay', async () => {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: garbageTopic, messages: [{ key: '{"id":1}', value: 'this is not JSON' }] });
    await producer.disconnect();

    const decode = await eventually('the decode dead letter', async () => (await list('--reason', 'decode'))[0], 90_000, 2_000);
    expect(decode).toMatchObject({ status: 'pending', reason: 'decode', table: garbageTopic.split('.').at(-1), key: { id: 1 } });
    expect(decode.error).toMatch(/cannot decode Debezium message/);

    const result = await runDlq(['replay', '--all', '--json'], isolated.env);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual([expect.objectContaining({ id: decode.id, outcome: 'failed', detail: expect.stringMatching(/^still not decodable/) })]);
    const [after] = await list('--reason', 'decode');
    expect(after).toMatchObject({ id: decode.id, status: 'pending', replays: [{ outcome: 'failed' }] });
    // Nothing was deleted: both dead letters are still listed.
    expect((await list()).map((d) => d.id).sort()).toEqual([decode.id, sinkDeadLetter.id].sort());
  });

  it('refuses unclear replay requests with a usage error', async () => {
    expect((await runDlq(['replay'], isolated.env)).code).toBe(2);
    expect((await runDlq(['replay', sinkDeadLetter.id, '--all'], isolated.env)).code).toBe(2);
    expect((await runDlq(['list', '--status', 'lost'], isolated.env)).code).toBe(2);
  });
});
