/**
 * Engine addresses from the environment, with the loopback defaults that `./setup.sh` uses in both
 * its Docker and native modes. Kept free of vitest imports: global setup runs outside the test
 * runtime and imports this file.
 */

export type EngineName = 'postgres' | 'kafka' | 'connect' | 'elasticsearch' | 'redis' | 'mongodb' | 'mailpit' | 'smtp';

export interface EngineUrls {
  /** libpq URL of the shop database (superuser), e.g. postgres://postgres:postgres@127.0.0.1:5432/ecommerce */
  postgres: string;
  /** Comma-separated broker list, e.g. 127.0.0.1:9092 */
  kafka: string;
  /** Kafka Connect REST, e.g. http://127.0.0.1:8083 */
  connect: string;
  elasticsearch: string;
  redis: string;
  mongodb: string;
  /** Mailpit's HTTP API (read back what was sent, inject SMTP chaos), e.g. http://127.0.0.1:8025 */
  mailpit: string;
  /** Mailpit's SMTP server, e.g. smtp://127.0.0.1:1025 */
  smtp: string;
}

/** Engine addresses from the environment, with the stack's loopback defaults. */
export function engineUrlsFromEnv(env: NodeJS.ProcessEnv = process.env): EngineUrls {
  return {
    postgres: env.POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/ecommerce',
    kafka: env.KAFKA_BROKERS ?? '127.0.0.1:9092',
    connect: env.KAFKA_CONNECT_URL ?? 'http://127.0.0.1:8083',
    elasticsearch: env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200',
    redis: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    mongodb: env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017',
    mailpit: env.MAILPIT_URL ?? 'http://127.0.0.1:8025',
    smtp: env.SMTP_URL ?? 'smtp://127.0.0.1:1025',
  };
}

