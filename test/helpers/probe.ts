/**
 * One cheap, real request per engine: returns null when it answers, else the reason it did not.
 */
import net from 'node:net';
import type { EngineName } from './engine-urls.js';

const TIMEOUT_MS = 3000;

function tcpConnect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: TIMEOUT_MS });
    socket.once('connect', () => { socket.destroy(); resolve(); });
    socket.once('timeout', () => { socket.destroy(); reject(new Error('timeout')); });
    socket.once('error', (error) => { socket.destroy(); reject(error); });
  });
}

/** Connects and waits for the server's "220" greeting (an open port alone could be anything). */
function smtpGreeting(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: TIMEOUT_MS });
    socket.once('data', (chunk) => {
      socket.end('QUIT\r\n');
      if (chunk.toString('latin1').startsWith('220')) resolve();
      else reject(new Error(`unexpected SMTP greeting: ${chunk.toString('latin1').slice(0, 80)}`));
    });
    socket.once('timeout', () => { socket.destroy(); reject(new Error('timeout waiting for the SMTP greeting')); });
    socket.once('error', (error) => { socket.destroy(); reject(error); });
  });
}

async function httpOk(url: string): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`);
}

export async function probeEngine(name: EngineName, url: string): Promise<string | null> {
  try {
    switch (name) {
      case 'postgres': {
        const pg = await import('pg');
        const client = new pg.default.Client({ connectionString: url, connectionTimeoutMillis: TIMEOUT_MS });
        await client.connect();
        try { await client.query('select 1'); } finally { await client.end(); }
        break;
      }
      case 'kafka': {
        const [host = '127.0.0.1', port = '9092'] = url.split(',')[0]!.split(':');
        await tcpConnect(host, Number(port));
        break;
      }
      case 'connect':
        await httpOk(`${url.replace(/\/$/, '')}/connectors`);
        break;
      case 'elasticsearch':
        await httpOk(`${url.replace(/\/$/, '')}/_cluster/health`);
        break;
      case 'mailpit':
        await httpOk(`${url.replace(/\/$/, '')}/api/v1/info`);
        break;
      case 'smtp': {
        const parsed = new URL(url);
        await smtpGreeting(parsed.hostname, Number(parsed.port || 25));
        break;
      }
      case 'redis':
      case 'mongodb': {
        const parsed = new URL(url);
        await tcpConnect(parsed.hostname, Number(parsed.port || (name === 'redis' ? 6379 : 27017)));
        break;
      }
    }
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
