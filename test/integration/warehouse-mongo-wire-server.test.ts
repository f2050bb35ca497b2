/**
 * The native stack's MongoDB-wire server (scripts/native/MongoWireServer.java) as the warehouse
 * and mongosh need it: it reports MongoDB 6.0.0 / wire 17 and answers `hello`; SCRAM-SHA-256
 * login with the root account works, a wrong password is refused, login is optional by default and
 * required with MONGO_REQUIRE_AUTH=true (a second server started here on a free port); and a query
 * naming `_id` next to other conditions (the warehouse's version guard) answers exactly as MongoDB.
 * Only meaningful on the native stack: with Docker's MongoDB 7 the checks that need the server's
 * process are skipped, the rest hold there too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MongoClient, MongoServerError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';

const ROOT = resolve(import.meta.dirname, '../..');
const JARS = resolve(ROOT, '.stack/lib/mongodb');
const native = existsSync(JARS);

function withCredentials(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password;
  parsed.searchParams.set('authSource', 'admin');
  return parsed.toString();
}

async function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolvePromise(port));
    });
    server.on('error', reject);
  });
}

describe.runIf(requireEngines('mongodb'))('the MongoDB-wire server', () => {
  const database = uniqueName('wh-wire').replace(/[^A-Za-z0-9_-]/g, '_');
  let client: MongoClient;

  beforeAll(async () => {
    client = new MongoClient(engines().mongodb, { serverSelectionTimeoutMS: 5_000 });
    await client.connect();
  });
  afterAll(async () => {
    await client.db(database).dropDatabase().catch(() => undefined);
    await client.close();
  });

  it.runIf(native)('reports MongoDB 6.0.0, wire version 17, and answers hello', async () => {
    const hello = await client.db('admin').command({ hello: 1 });
    expect(hello).toMatchObject({ isWritablePrimary: true, helloOk: true, maxWireVersion: 17 });
    expect((await client.db('admin').command({ buildInfo: 1 })).version).toBe('6.0.0');
  });

  it('logs in with admin/admin123 (SCRAM-SHA-256) and refuses a wrong password', async () => {
    const good = new MongoClient(withCredentials(engines().mongodb, 'admin', 'admin123'), { serverSelectionTimeoutMS: 5_000, authMechanism: 'SCRAM-SHA-256' });
    try {
      await good.connect();
      const status = await good.db('admin').command({ connectionStatus: 1 });
      expect(status.authInfo.authenticatedUsers).toEqual([{ user: 'admin', db: 'admin' }]);
    } finally {
      await good.close();
    }
    const bad = new MongoClient(withCredentials(engines().mongodb, 'admin', 'wrong'), { serverSelectionTimeoutMS: 5_000 });
    await expect(bad.connect()).rejects.toThrow(/Authentication failed/);
    await bad.close();
  });

  it('answers queries naming _id next to other conditions exactly (the version guard)', async () => {
    // Numbers and sub-documents as _id, as the warehouse writes them.
    const orders = client.db(database).collection('guard');
    // The driver's filter types assume ObjectId _ids; the warehouse's are numbers and sub-documents.
    const find = (filter: object) => orders.find(filter as never).toArray();
    await orders.insertMany([{ _id: 1, v: '005' }, { _id: 2, v: '007' }, { _id: { order_id: 1, line: 2 }, v: '003' }] as never[]);
    expect(await find({ _id: 1, v: '005' })).toEqual([{ _id: 1, v: '005' }]);
    expect(await find({ _id: 1, v: '006' })).toEqual([]);
    expect(await find({ _id: { $in: [1, 2] }, v: { $gt: '005' } })).toEqual([{ _id: 2, v: '007' }]);
    expect(await find({ _id: { order_id: 1, line: 2 }, v: '003' })).toHaveLength(1);
    // A guarded upsert whose guard fails collides on _id instead of overwriting.
    const error = await orders.replaceOne({ _id: 2, v: '006' } as never, { v: '009' }, { upsert: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoServerError);
    expect((error as MongoServerError).code).toBe(11000);
    expect(await orders.findOne({ _id: 2 } as never)).toEqual({ _id: 2, v: '007' });
    await orders.replaceOne({ _id: 2, v: '007' } as never, { v: '009', n: 1 }, { upsert: true });
    expect(await orders.findOne({ _id: 2 } as never)).toEqual({ _id: 2, v: '009', n: 1 });
  });

  describe.runIf(native)('with MONGO_REQUIRE_AUTH=true', () => {
    let server: ChildProcess;
    let port: number;
    let dir: string;

    beforeAll(async () => {
      port = await freePort();
      dir = mkdtempSync(join(tmpdir(), 'mongo-wire-'));
      server = spawn('java', ['-cp', `${JARS}/*`, resolve(ROOT, 'scripts/native/MongoWireServer.java'), join(dir, 'data.mv'), '127.0.0.1', String(port)], {
        env: { ...process.env, MONGO_REQUIRE_AUTH: 'true', MONGO_ROOT_USERNAME: 'admin', MONGO_ROOT_PASSWORD: 'admin123' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      server.stdout!.on('data', (chunk) => (output += chunk));
      const deadline = Date.now() + 60_000;
      while (!output.includes('listening on')) {
        if (Date.now() > deadline || server.exitCode !== null) throw new Error(`the second server did not start: ${output}`);
        await new Promise((resolvePromise) => setTimeout(resolvePromise, 200));
      }
      if (!output.includes('login required')) throw new Error(`MONGO_REQUIRE_AUTH was not taken: ${output}`);
    }, 90_000);
    afterAll(async () => {
      server?.kill('SIGTERM');
      await new Promise((resolvePromise) => (server && server.exitCode === null ? server.on('exit', resolvePromise) : resolvePromise(null)));
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('refuses commands before login and allows them after', async () => {
      const anonymous = new MongoClient(`mongodb://127.0.0.1:${port}`, { serverSelectionTimeoutMS: 5_000 });
      try {
        const error = await anonymous.db('x').collection('y').findOne({}).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(MongoServerError);
        expect((error as MongoServerError).code).toBe(13);
      } finally {
        await anonymous.close();
      }
      const admin = new MongoClient(`mongodb://admin:admin123@127.0.0.1:${port}/?authSource=admin`, { serverSelectionTimeoutMS: 5_000 });
      try {
        await admin.db('x').collection('y').insertOne({ _id: 1 } as never);
        expect(await admin.db('x').collection('y').countDocuments()).toBe(1);
      } finally {
        await admin.close();
      }
    });
  });
});
