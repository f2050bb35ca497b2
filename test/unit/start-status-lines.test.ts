/**
 * What npm start draws: the status line of each consumer (ready, catching up, starting, exited),
 * cut to the terminal's width so it never wraps; the block kept at the bottom with exact cursor
 * moves; consumer output split into lines and formatted (pretty and prefixed on a terminal,
 * JSON otherwise).
 */
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ConsumerStatus } from '../../dashboard/pipeline-monitor.js';
import { jsonFormatter, LineSplitter, prettyFormatter } from '../../scripts/operator/log-lines.js';
import { duration, renderStatusLine, StatusBlock, statusText } from '../../scripts/operator/status-lines.js';

const status = (over: Partial<ConsumerStatus>): ConsumerStatus => ({
  name: 'redis', healthUrl: 'http://127.0.0.1:9102', groupId: 'cdc-redis', deadLetterTopic: 'ecommerce.dlq.redis',
  up: true, ready: true, readyDetail: null, lagByTopic: {}, lag: 0, eventsPerSecond: 412.4,
  latency: { p50Ms: 30, p99Ms: 80, count: 10 }, lastLatencyMs: 38.2, deadLettered: 0, catchUp: null, ...over,
});

describe('statusText', () => {
  it.each([
    ['ready', { running: true } as const, status({}), '● redis          ready     · lag 0 · 412 ev/s · commit→sink 38 ms', 'ok'],
    ['not ready with dead letters', { running: true } as const, status({ ready: false, lag: 1234, eventsPerSecond: 0, lastLatencyMs: 12_345, deadLettered: 2 }), '● redis          NOT READY · lag 1,234 · 0.0 ev/s · commit→sink 12.3 s · dead letters 2', 'bad'],
    ['catching up', { running: true } as const, status({ lag: 37_600, catchUp: { done: 12_400, total: 50_000, perSecond: 3_100, etaSeconds: 12.1 } }), '◐ redis          catching up 12,400/50,000 24% · 3,100 ev/s · ETA 13s', 'busy'],
    ['catching up, rate not known yet', { running: true } as const, status({ catchUp: { done: 0, total: 50_000, perSecond: null, etaSeconds: null } }), '◐ redis          catching up 0/50,000 0% · — ev/s · ETA —', 'busy'],
    ['starting', { running: true } as const, status({ up: false }), '◌ redis          starting…', 'busy'],
    ['exited 0', { running: false, code: 0, signal: null } as const, undefined, '○ redis          exited 0', 'ok'],
    ['killed', { running: false, code: null, signal: 'SIGKILL' } as const, undefined, '○ redis          killed by SIGKILL', 'bad'],
  ])('%s', (_, process, consumer, text, tone) => {
    const line = statusText('redis', 13, process, consumer);
    expect(`${line.symbol} ${line.text}`).toBe(text);
    expect(line.tone).toBe(tone);
  });

  it('writes durations in s, m and h', () => {
    expect([duration(0.2), duration(89), duration(95), duration(7200)]).toEqual(['1s', '89s', '1m35s', '2h00m']);
  });

  it('cuts a line to the terminal width (never wraps), colours only symbol and name', () => {
    const line = statusText('redis', 13, { running: true }, status({ deadLettered: 5 }));
    const rendered = renderStatusLine(line, 13, 'magenta', 40);
    const visible = stripVTControlCharacters(rendered);
    expect(visible.length).toBe(39);
    expect(visible.endsWith('…')).toBe(true);
    expect(visible.startsWith('● redis          ready')).toBe(true);
    expect(rendered).not.toBe(visible);
  });
});

describe('StatusBlock', () => {
  it('erases exactly its own lines before log text and draws them again below it', () => {
    const written: string[] = [];
    const block = new StatusBlock({ write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream);
    block.update(['a', 'b']);
    block.write('log 1\n');
    block.update(['c', 'd', 'e']);
    block.write('log 2\n');
    expect(written).toEqual(['a\nb\n', '\r\x1b[2A\x1b[Jlog 1\na\nb\n', '\r\x1b[2A\x1b[Jc\nd\ne\n', '\r\x1b[3A\x1b[Jlog 2\nc\nd\ne\n']);
    block.done();
    block.write('after\n');
    expect(written.at(-1)).toBe('after\n');
  });
});

describe('consumer output', () => {
  it('splits chunks into lines, keeping a partial line for the next chunk', () => {
    const splitter = new LineSplitter();
    expect(splitter.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(splitter.push(':2}\n\n')).toEqual(['{"b":2}']);
    expect(splitter.push('tail')).toEqual([]);
    expect(splitter.flush()).toEqual(['tail']);
  });

  const line = JSON.stringify({ level: 30, time: Date.UTC(2026, 11, 1, 10, 0, 0, 123), consumer: 'redis', msg: 'consumer:redis running', groupId: 'cdc-redis' });

  it('on a terminal: pino-pretty, prefixed with the consumer', () => {
    const text = prettyFormatter('redis', 13, 'magenta', false).format(line, 'stdout');
    expect(text).toMatch(/^redis {9}│ \[\d\d:\d\d:00\.123\] INFO: consumer:redis running \{"groupId":"cdc-redis"\}\n$/);
    expect(prettyFormatter('redis', 13, 'magenta', false).format('Error: boom\n    at x', 'stderr')).toBe('redis         │ Error: boom\nredis         │     at x\n');
  });

  it('otherwise: JSON lines unchanged, other text wrapped into a JSON line', () => {
    const json = jsonFormatter('redis');
    expect(json.format(line, 'stdout')).toBe(`${line}\n`);
    const wrapped = JSON.parse(json.format('TypeError: x', 'stderr')) as Record<string, unknown>;
    expect(wrapped).toMatchObject({ level: 'error', consumer: 'redis', stream: 'stderr', msg: 'TypeError: x' });
  });
});
