/**
 * The running stack's security settings (issue 13, defect 7), checked on the real engines:
 * - Kafka Connect's REST API does not hand out the connector's database password (the config
 *   holds `${env:DEBEZIUM_DB_PASSWORD}`, resolved by the worker's EnvVarConfigProvider), and the
 *   connector still logs in;
 * - the native PostgreSQL trusts nobody: no `trust` rule in pg_hba, its socket in a 0700
 *   directory with 0700 permissions, and a cap on the WAL a stuck slot may pin, like compose;
 * - the native engines' data directories are private to the stack user (umask 077).
 * The native checks run only against the native stack (`.stack/mode` is not "docker"); the
 * compose side is checked by test/unit/compose-config.test.ts.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, requireEngines } from '../helpers/engines.js';
import { CONNECTOR, waitForConnector } from '../helpers/pipeline.js';

const ROOT = resolve(import.meta.dirname, '../..');
const STACK = process.env.CDC_STACK_DIR ?? resolve(ROOT, '.stack');
const native = !(existsSync(resolve(STACK, 'mode')) && readFileSync(resolve(STACK, 'mode'), 'utf8').trim() === 'docker');

describe.runIf(requireEngines('connect', 'postgres'))('stack security (real engines)', () => {
  it("Connect's REST API shows the connector password as an ${env:...} reference, and the connector runs with it", async () => {
    await waitForConnector();
    const response = await fetch(`${engines().connect}/connectors/${CONNECTOR}/config`);
    expect(response.status).toBe(200);
    const text = await response.text();
    const config = JSON.parse(text) as Record<string, string>;
    expect(config['database.password']).toBe('${env:DEBEZIUM_DB_PASSWORD}');
    expect(text).not.toContain('"dbz"');
    const status = (await (await fetch(`${engines().connect}/connectors/${CONNECTOR}/status`)).json()) as { tasks: { state: string }[] };
    expect(status.tasks.map((task) => task.state)).toEqual(['RUNNING']);
  });

  describe.runIf(native)('native PostgreSQL and engine data', () => {
    let db: pg.Client;
    beforeAll(async () => {
      db = new pg.Client({ connectionString: engines().postgres });
      await db.connect();
    });
    afterAll(async () => {
      await db?.end();
    });
    const show = async (name: string) => (await db.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name]!;

    it('has no trust rule: every connection, socket or TCP, needs a password', async () => {
      const { rows } = await db.query<{ type: string; auth_method: string }>('SELECT type, auth_method FROM pg_hba_file_rules WHERE error IS NULL');
      expect(rows.length).toBeGreaterThan(0);
      for (const rule of rows) expect(rule.auth_method, `${rule.type} rule`).not.toBe('trust');
      expect(rows.some((rule) => rule.type === 'local')).toBe(true);
    });

    it('keeps its socket in a 0700 directory, with 0700 socket permissions', async () => {
      expect(await show('unix_socket_permissions')).toBe('0700');
      const directory = (await show('unix_socket_directories')).split(',')[0]!.trim();
      expect(statSync(directory).mode & 0o777).toBe(0o700);
      const socket = readdirSync(directory).find((name) => name.startsWith('.s.PGSQL.'));
      expect(socket, `a socket in ${directory}`).toBeDefined();
    });

    it('caps the WAL a stuck replication slot may pin, like the compose PostgreSQL', async () => {
      expect(await show('max_slot_wal_keep_size')).toBe('4GB');
    });

    it('keeps every engine data directory private to the stack user', () => {
      const data = resolve(STACK, 'data');
      const engines = readdirSync(data);
      expect(engines).toEqual(expect.arrayContaining(['postgres', 'kafka', 'redis']));
      for (const engine of engines) expect(statSync(resolve(data, engine)).mode & 0o077, `${engine} data`).toBe(0);
    });
  });
});
