/**
 * The stack's static configuration, checked without starting anything: docker-compose.yml (the
 * services, images, container names, ports, healthchecks, start order and volumes the README's
 * commands rely on), debezium/connector-config.json (the connector both stacks register), and the
 * parts of postgres/init.sql the connector depends on (cheap text checks; the integration test
 * postgres-schema.test.ts loads the file into a real PostgreSQL).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(resolve(ROOT, path), 'utf8');

interface Service {
  image: string;
  container_name?: string;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition: string }> | string[];
}
interface ComposeFile {
  version?: unknown;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const composeText = read('docker-compose.yml');
const compose = parse(composeText) as ComposeFile;
const connectorFile = JSON.parse(read('debezium/connector-config.json')) as { name: string; config: Record<string, string> };
const connector = connectorFile.config;
const initSql = read('postgres/init.sql');
/** init.sql's statements without its `--` comments (which may mention what the file must not do). */
const initStatements = initSql.replace(/--.*$/gm, '');

/** What Compose substitutes when no .env sets the variable: `${VAR:-default}` -> default. */
function withDefaults(value: unknown): string {
  return String(value).replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1');
}
const service = (name: string): Service => {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service '${name}'`);
  return found;
};
const env = (name: string, key: string): string | undefined => {
  const value = service(name).environment?.[key];
  return value === undefined ? undefined : withDefaults(value);
};
const imageTag = (name: string) => service(name).image.split(':').at(-1)!;

const CAPTURED_TABLES = ['customers', 'products', 'orders', 'order_items', 'debezium_heartbeat'];

describe('docker-compose.yml', () => {
  it('uses the Compose specification (no obsolete version key)', () => {
    expect(compose.version).toBeUndefined();
  });

  const services: [service: string, image: RegExp, container: string | undefined, hostPorts: number[]][] = [
    ['postgres', /^postgres:15(\.\d+)?$/, 'source_db', [5432]],
    ['zookeeper', /^confluentinc\/cp-zookeeper:7\.9\.\d+$/, undefined, []],
    ['kafka', /^confluentinc\/cp-kafka:7\.9\.\d+$/, 'kafka_broker', [9092]],
    ['debezium', /^quay\.io\/debezium\/connect:3\.[0-2]\.\d+\.Final$/, 'debezium_connect', [8083]],
    ['kafka-ui', /^provectuslabs\/kafka-ui:v?\d+\.\d+\.\d+$/, undefined, [8080]],
    ['elasticsearch', /^docker\.elastic\.co\/elasticsearch\/elasticsearch:8\.\d+\.\d+$/, undefined, [9200]],
    ['kibana', /^docker\.elastic\.co\/kibana\/kibana:8\.\d+\.\d+$/, undefined, [5601]],
    ['redis', /^redis:7(\.\d+)*$/, 'redis_cache', [6379]],
    ['mongodb', /^mongo:7(\.\d+)*$/, 'mongo_warehouse', [27017]],
    ['mailpit', /^axllent\/mailpit:v\d+\.\d+(\.\d+)?$/, undefined, [8025, 1025]],
  ];

  it('has exactly the expected services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(services.map(([name]) => name).sort());
  });

  describe.each(services)('service %s', (name, image, container, hostPorts) => {
    it(`runs ${image}`, () => {
      expect(service(name).image).toMatch(image);
    });

    if (container) {
      it(`is the container ${container} the README's docker exec commands name`, () => {
        expect(service(name).container_name).toBe(container);
      });
    }

    it(`publishes host ports ${hostPorts.join(', ') || '(none)'} on the same container ports, on 127.0.0.1 unless PUBLISH_ADDRESS says otherwise`, () => {
      const published = (service(name).ports ?? []).map((mapping) => {
        // No service is reachable from other machines by default (Redis has no password, Connect
        // and Elasticsearch no authentication).
        expect(mapping).toMatch(/^\$\{PUBLISH_ADDRESS:-127\.0\.0\.1\}:/);
        const match = /^127\.0\.0\.1:(\d+):(\d+)$/.exec(withDefaults(mapping));
        if (!match) throw new Error(`${name}: port mapping '${mapping}' is not ADDRESS:HOST:CONTAINER`);
        expect(match[1]).toBe(match[2]);
        return Number(match[1]);
      });
      expect(published.sort()).toEqual([...hostPorts].sort());
    });

    it('has a real healthcheck', () => {
      const check = service(name).healthcheck;
      expect(check?.disable).not.toBe(true);
      const test = Array.isArray(check?.test) ? check.test : [check?.test];
      expect(['CMD', 'CMD-SHELL']).toContain(test[0]);
      expect(test.slice(1).join(' ').trim()).not.toBe('');
    });
  });

  it('every host port is published once', () => {
    const all = Object.values(compose.services).flatMap((s) => (s.ports ?? []).map((p) => withDefaults(p).split(':')[1]));
    expect(new Set(all).size).toBe(all.length);
  });

  it.each([
    ['kafka', ['zookeeper']],
    ['debezium', ['kafka', 'postgres']],
    ['kafka-ui', ['kafka']],
    ['kibana', ['elasticsearch']],
  ])('%s starts after %j are healthy', (name, dependencies) => {
    const dependsOn = service(name).depends_on;
    expect(Array.isArray(dependsOn), 'depends_on must be the long form, with conditions').toBe(false);
    expect(Object.keys(dependsOn ?? {}).sort()).toEqual([...dependencies].sort());
    for (const dependency of dependencies) {
      expect((dependsOn as Record<string, { condition: string }>)[dependency]?.condition).toBe('service_healthy');
    }
  });

  it('waits only on services that exist and have healthchecks', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const dependency of Object.keys(s.depends_on ?? {})) {
        expect(compose.services[dependency], `${name} depends on unknown ${dependency}`).toBeDefined();
        expect(compose.services[dependency]!.healthcheck, `${name} waits on ${dependency}, which has no healthcheck`).toBeDefined();
      }
    }
  });

  it.each([
    ['postgres', '/var/lib/postgresql/data'],
    ['zookeeper', '/var/lib/zookeeper/data'],
    ['kafka', '/var/lib/kafka/data'],
    ['debezium', '/kafka/data'],
    ['elasticsearch', '/usr/share/elasticsearch/data'],
    ['kibana', '/usr/share/kibana/data'],
    ['redis', '/data'],
    ['mongodb', '/data/db'],
    ['mailpit', '/data'],
  ])('%s keeps %s in a named volume', (name, path) => {
    const mount = (service(name).volumes ?? []).find((volume) => volume.split(':')[1] === path);
    expect(mount, `${name} has no volume at ${path}`).toBeDefined();
    const source = mount!.split(':')[0]!;
    expect(source).toMatch(/^[a-z][a-z0-9_]*$/);
    expect(compose.volumes).toHaveProperty(source);
  });

  it('declares exactly the named volumes it mounts', () => {
    const used = Object.values(compose.services)
      .flatMap((s) => s.volumes ?? [])
      .map((volume) => volume.split(':')[0]!)
      .filter((source) => !source.startsWith('.') && !source.startsWith('/'));
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual([...new Set(used)].sort());
  });

  it('gives every ${VAR} a default, so the stack starts without a .env', () => {
    const references = composeText.match(/\$\{[^}]*\}/g) ?? [];
    expect(references.length).toBeGreaterThan(0);
    for (const reference of references) expect(reference).toMatch(/^\$\{[A-Z0-9_]+:-[^}]+\}$/);
  });

  describe('postgres', () => {
    const command = () => {
      const raw = service('postgres').command;
      return Array.isArray(raw) ? raw.join(' ') : String(raw);
    };
    const setting = (name: string) => new RegExp(`-c ${name}=(\\S+)`).exec(command())?.[1];

    it('bounds the WAL a stuck slot can pin, like the native stack', () => {
      expect(setting('max_slot_wal_keep_size')).toBe('4GB');
      expect(read('scripts/native/stack.sh')).toMatch(/max_slot_wal_keep_size=4GB/);
    });

    it('runs with logical WAL and room for replication slots and WAL senders', () => {
      expect(setting('wal_level')).toBe('logical');
      expect(Number(setting('max_replication_slots'))).toBeGreaterThanOrEqual(10);
      expect(Number(setting('max_wal_senders'))).toBeGreaterThanOrEqual(10);
    });

    it.each([
      ['POSTGRES_DB', 'ecommerce'],
      ['POSTGRES_USER', 'postgres'],
      ['POSTGRES_PASSWORD', 'postgres'],
    ])('%s defaults to %s', (key, value) => {
      expect(env('postgres', key)).toBe(value);
    });

    it('initialises the database from postgres/init.sql', () => {
      const mount = (service('postgres').volumes ?? []).find((volume) => volume.startsWith('./postgres/init.sql:'));
      expect(mount).toMatch(/^\.\/postgres\/init\.sql:\/docker-entrypoint-initdb\.d\/[\w.-]+\.sql(:ro)?$/);
      expect(existsSync(resolve(ROOT, 'postgres/init.sql'))).toBe(true);
    });
  });

  describe('kafka', () => {
    const listeners = (key: string) => Object.fromEntries(
      (env('kafka', key) ?? '').split(',').map((entry) => {
        const [listener, address] = entry.split('://');
        return [listener!, address!];
      }),
    );

    it('runs in ZooKeeper mode against the zookeeper service', () => {
      expect(env('kafka', 'KAFKA_ZOOKEEPER_CONNECT')).toBe('zookeeper:2181');
      expect(imageTag('kafka')).toBe(imageTag('zookeeper'));
    });

    it('advertises localhost:9092 (host and in-container clients) and kafka:29092 (other containers)', () => {
      const advertised = Object.values(listeners('KAFKA_ADVERTISED_LISTENERS'));
      expect(advertised.sort()).toEqual(['kafka:29092', 'localhost:9092']);
      const bound = Object.values(listeners('KAFKA_LISTENERS'));
      expect(bound.sort()).toEqual(['0.0.0.0:29092', '0.0.0.0:9092']);
      // The inter-broker listener is the one advertised as kafka:29092.
      expect(listeners('KAFKA_ADVERTISED_LISTENERS')[env('kafka', 'KAFKA_INTER_BROKER_LISTENER_NAME')!]).toBe('kafka:29092');
    });

    it('keeps its internal topics at one replica (a single broker)', () => {
      expect(env('kafka', 'KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR')).toBe('1');
      expect(env('kafka', 'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR')).toBe('1');
    });

    it.each([
      ['debezium', 'BOOTSTRAP_SERVERS'],
      ['kafka-ui', 'KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS'],
    ])('%s reaches the broker on its container listener', (name, key) => {
      expect(env(name, key)).toBe('kafka:29092');
    });
  });

  describe('debezium and kafka-ui', () => {
    it('Connect creates topics from the connector settings and stores its state in 1-replica topics', () => {
      expect(env('debezium', 'CONNECT_TOPIC_CREATION_ENABLE')).toBe('true');
      for (const topic of ['CONFIG_STORAGE_TOPIC', 'OFFSET_STORAGE_TOPIC', 'STATUS_STORAGE_TOPIC']) {
        expect(env('debezium', topic)).toMatch(/^\w+$/);
        expect(env('debezium', `CONNECT_${topic}`.replace('_TOPIC', '_REPLICATION_FACTOR'))).toBe('1');
      }
    });

    it('Connect resolves ${env:...} in connector configs from its environment, which holds the connector password', () => {
      expect(env('debezium', 'CONNECT_CONFIG_PROVIDERS')).toBe('env');
      expect(env('debezium', 'CONNECT_CONFIG_PROVIDERS_ENV_CLASS')).toBe('org.apache.kafka.common.config.provider.EnvVarConfigProvider');
      // Connector configs may read only these variables, not the whole environment.
      expect(env('debezium', 'CONNECT_CONFIG_PROVIDERS_ENV_PARAM_ALLOWLIST_PATTERN')).toBe('^DEBEZIUM_DB_.*');
      expect(env('debezium', 'DEBEZIUM_DB_PASSWORD')).toBe('dbz');
    });

    it('Kafka UI knows the Connect cluster', () => {
      expect(env('kafka-ui', 'KAFKA_CLUSTERS_0_KAFKACONNECT_0_ADDRESS')).toBe('http://debezium:8083');
    });
  });

  describe('elasticsearch and kibana', () => {
    it('run the same 8.x version', () => {
      expect(imageTag('kibana')).toBe(imageTag('elasticsearch'));
    });

    it('run the same Elasticsearch as the native stack', () => {
      const native = /^ES_VERSION=(\S+)$/m.exec(read('scripts/native/stack.sh'))?.[1];
      expect(native, 'scripts/native/stack.sh sets ES_VERSION').toBeDefined();
      expect(imageTag('elasticsearch')).toBe(native);
    });

    it.each([
      ['discovery.type', 'single-node'],
      ['xpack.security.enabled', 'false'],
    ])('elasticsearch %s=%s', (key, value) => {
      expect(env('elasticsearch', key)).toBe(value);
    });

    it('has a heap of about 1 GB', () => {
      expect(env('elasticsearch', 'ES_JAVA_OPTS')).toBe('-Xms1g -Xmx1g');
    });

    it('kibana talks to the elasticsearch service', () => {
      expect(env('kibana', 'ELASTICSEARCH_HOSTS')).toContain('http://elasticsearch:9200');
    });
  });

  it.each([
    ['MONGO_INITDB_ROOT_USERNAME', 'admin'],
    ['MONGO_INITDB_ROOT_PASSWORD', 'admin123'],
  ])('mongodb %s defaults to %s', (key, value) => {
    expect(env('mongodb', key)).toBe(value);
  });
});

describe('the Docker-only UIs', () => {
  it('./setup.sh creates the Kibana data views once the Docker stack is up', () => {
    const upDocker = /up_docker\(\) \{([\s\S]*?)\n\}/.exec(read('setup.sh'))?.[1] ?? '';
    expect(upDocker).toMatch(/compose up -d --wait[\s\S]*node scripts\/operator\/kibana-data-views\.mjs --kibana http:\/\/localhost:5601/);
    expect(service('kibana').ports).toContain('${PUBLISH_ADDRESS:-127.0.0.1}:5601:5601');
  });

  it('the data views are the Elasticsearch consumer aliases, with a time field their mapping has', async () => {
    const { dataViews } = await import('../../scripts/operator/kibana-data-views.mjs');
    const { INDEX_CATALOG } = await import('../../consumers/elasticsearch/index-catalog.js');
    const views = dataViews();
    expect(views.map((view) => view.title).sort()).toEqual(INDEX_CATALOG.map((index) => index.alias).sort());
    for (const view of views) {
      const index = INDEX_CATALOG.find((candidate) => candidate.alias === view.title)!;
      const properties = (index.body.mappings as { properties: Record<string, { type?: string }> }).properties;
      if (view.timeFieldName) expect(properties[view.timeFieldName]?.type, `${view.title}.${view.timeFieldName}`).toMatch(/^date/);
      else expect(Object.values(properties).some((field) => field.type?.startsWith('date')), `${view.title} has a date field`).toBe(false);
    }
    expect(new Set(views.map((view) => view.id)).size).toBe(views.length);
    expect(dataViews('test-').map((view) => view.title)).toContain('test-orders');
  });

  it('Kafka UI lists the consumer groups: it reads the broker through its admin client, not read-only-restricted', () => {
    expect(env('kafka-ui', 'KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS')).toBe('kafka:29092');
    expect(env('kafka-ui', 'KAFKA_CLUSTERS_0_READONLY') ?? 'false').toBe('false');
  });
});

describe('debezium/connector-config.json', () => {
  it('names the connector the README and setup.sh use', () => {
    expect(connectorFile.name).toBe('ecommerce-postgres-connector');
    expect(Object.keys(connectorFile).sort()).toEqual(['config', 'name']);
  });

  it('holds only string values (what the Connect REST API stores)', () => {
    for (const [key, value] of Object.entries(connector)) expect(typeof value, key).toBe('string');
  });

  it.each([
    ['connector.class', 'io.debezium.connector.postgresql.PostgresConnector'],
    ['plugin.name', 'pgoutput'],
    ['database.hostname', 'postgres'],
    ['database.port', '5432'],
    ['database.user', 'debezium'],
    ['database.password', '${env:DEBEZIUM_DB_PASSWORD}'],
    ['database.dbname', 'ecommerce'],
    ['topic.prefix', 'ecommerce'],
    ['table.include.list', 'public.customers,public.products,public.orders,public.order_items,public.debezium_heartbeat'],
    ['publication.name', 'dbz_publication'],
    ['publication.autocreate.mode', 'disabled'],
    ['slot.name', 'debezium_ecommerce'],
    ['snapshot.mode', 'initial'],
    ['heartbeat.interval.ms', '10000'],
    ['poll.interval.ms', '10'],
    ['tombstones.on.delete', 'true'],
    ['skipped.operations', 'none'],
    ['key.converter', 'org.apache.kafka.connect.json.JsonConverter'],
    ['key.converter.schemas.enable', 'true'],
    ['value.converter', 'org.apache.kafka.connect.json.JsonConverter'],
    ['value.converter.schemas.enable', 'true'],
    ['decimal.handling.mode', 'string'],
    ['time.precision.mode', 'adaptive_time_microseconds'],
    ['topic.creation.default.partitions', '3'],
    ['topic.creation.default.replication.factor', '1'],
  ])('%s = %s', (key, value) => {
    expect(connector[key]).toBe(value);
  });

  it('the Docker Connect worker produces like the native one (no linger, big batches, uncompressed)', () => {
    expect(String(env('debezium', 'CONNECT_PRODUCER_LINGER_MS'))).toBe('0');
    expect(String(env('debezium', 'CONNECT_PRODUCER_BATCH_SIZE'))).toBe('262144');
    expect(env('debezium', 'CONNECT_PRODUCER_COMPRESSION_TYPE')).toBe('none');
    const native = read('scripts/native/stack.sh');
    expect(native).toMatch(/^producer\.linger\.ms=0$/m);
    expect(native).toMatch(/^producer\.batch\.size=262144$/m);
    expect(native).toMatch(/^producer\.compression\.type=none$/m);
  });

  it('connects to the compose service and database that exist', () => {
    expect(compose.services[connector['database.hostname']!]).toBeDefined();
    expect(env('postgres', 'POSTGRES_DB')).toBe(connector['database.dbname']);
  });

  it('writes heartbeats into the captured heartbeat table', () => {
    const query = connector['heartbeat.action.query'] ?? '';
    expect(query).toMatch(/^INSERT INTO public\.debezium_heartbeat\b.*ON CONFLICT/);
    expect(connector['table.include.list']!.split(',')).toContain('public.debezium_heartbeat');
  });

  it('logs in with the role init.sql creates, its password coming from the environment (compose default = init.sql\'s)', () => {
    expect(connector['database.password']).toBe('${env:DEBEZIUM_DB_PASSWORD}');
    expect(initSql).toMatch(new RegExp(
      `CREATE ROLE ${connector['database.user']} LOGIN REPLICATION PASSWORD '${env('debezium', 'DEBEZIUM_DB_PASSWORD')}'`));
  });

  it('holds no password literal', () => {
    for (const [key, value] of Object.entries(connector)) {
      if (/password|secret/i.test(key)) expect(value, key).toMatch(/^\$\{env:[A-Z0-9_]+\}$/);
    }
  });
});

describe('postgres/init.sql (text checks; postgres-schema.test.ts runs it for real)', () => {
  it('never creates or switches databases (it runs inside the target database)', () => {
    expect(initStatements).toMatch(/CREATE TABLE customers/);
    expect(initStatements).not.toMatch(/CREATE\s+DATABASE/i);
    expect(initStatements).not.toMatch(/^\s*\\c(onnect)?\b/m);
  });

  it.each(CAPTURED_TABLES)('%s has REPLICA IDENTITY FULL', (table) => {
    expect(initSql).toMatch(new RegExp(`ALTER TABLE ${table}\\s+REPLICA IDENTITY FULL;`));
  });

  it('publishes exactly the connector tables under the connector publication name', () => {
    const match = /CREATE PUBLICATION (\w+)\s+FOR TABLE ([^;]+);/.exec(initSql);
    expect(match?.[1]).toBe(connector['publication.name']);
    const published = match![2]!.split(',').map((table) => `public.${table.trim()}`);
    expect(published.sort()).toEqual(connector['table.include.list']!.split(',').sort());
  });

  it('creates the cluster-wide role only when it is missing', () => {
    expect(initSql).toMatch(/IF NOT EXISTS \(SELECT FROM pg_roles WHERE rolname = 'debezium'\) THEN\s+CREATE ROLE debezium/);
  });
});
