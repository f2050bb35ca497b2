/**
 * `npm start`'s live status lines at the bottom of the terminal: one per consumer (state, lag,
 * events/s, latest commit->sink latency, dead letters; progress and ETA while it catches up on a
 * backlog), redrawn in place below the scrolling log lines.
 *
 * StatusBlock keeps the block at the bottom: before log text is written it erases the block
 * (cursor up over its lines, erase to the end of the screen), then draws it again below the text.
 * Each status line is cut to the terminal's width, so no line ever wraps and the cursor
 * arithmetic stays exact.
 */
import { styleText } from 'node:util';
import type { ConsumerStatus } from '../../dashboard/pipeline-monitor.js';
import type { Colour } from './log-lines.js';

export type ProcessState = { readonly running: true } | { readonly running: false; readonly code: number | null; readonly signal: string | null };

export const integer = (n: number): string => Math.round(n).toLocaleString('en-US');

export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.ceil(seconds)}s`;
  if (seconds < 5400) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

export function milliseconds(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

const rate = (perSecond: number | null): string => (perSecond === null ? '—' : perSecond < 10 ? perSecond.toFixed(1) : integer(perSecond));

/** One consumer's status line, plain text (the caller colours and cuts it). */
export function statusText(name: string, width: number, process: ProcessState, status: ConsumerStatus | undefined): { symbol: string; text: string; tone: 'ok' | 'busy' | 'bad' } {
  const label = name.padEnd(width);
  if (!process.running) {
    const how = process.signal ? `killed by ${process.signal}` : `exited ${process.code}`;
    return { symbol: '○', text: `${label}  ${how}`, tone: process.code === 0 ? 'ok' : 'bad' };
  }
  if (!status || !status.up) return { symbol: '◌', text: `${label}  starting…`, tone: 'busy' };
  const parts: string[] = [];
  const dlq = status.deadLettered ? ` · dead letters ${integer(status.deadLettered)}` : '';
  if (status.catchUp) {
    const { done, total, perSecond, etaSeconds } = status.catchUp;
    const share = total > 0 ? Math.floor((100 * done) / total) : 0;
    parts.push(`catching up ${integer(done)}/${integer(total)} ${share}%`, `${rate(perSecond)} ev/s`, `ETA ${etaSeconds === null ? '—' : duration(etaSeconds)}`);
    return { symbol: '◐', text: `${label}  ${parts.join(' · ')}${dlq}`, tone: 'busy' };
  }
  parts.push(status.ready ? 'ready    ' : 'NOT READY');
  parts.push(`lag ${status.lag === null ? '?' : integer(status.lag)}`);
  parts.push(`${rate(status.eventsPerSecond)} ev/s`);
  parts.push(`commit→sink ${status.lastLatencyMs === null ? '—' : milliseconds(status.lastLatencyMs)}`);
  return { symbol: '●', text: `${label}  ${parts.join(' · ')}${dlq}`, tone: status.ready ? 'ok' : 'bad' };
}

const TONE: Record<'ok' | 'busy' | 'bad', Colour> = { ok: 'green', busy: 'yellow', bad: 'red' };

/** A status line coloured (symbol by tone, name in the consumer's colour) and cut to `columns`. */
export function renderStatusLine(line: { symbol: string; text: string; tone: 'ok' | 'busy' | 'bad' }, nameWidth: number, colour: Colour, columns: number): string {
  const plain = `${line.symbol} ${line.text}`;
  const cut = plain.length > columns - 1 ? `${plain.slice(0, Math.max(0, columns - 2))}…` : plain;
  const head = 2 + nameWidth;
  if (cut.length <= head) return cut;
  return `${styleText(TONE[line.tone], cut.slice(0, 1))} ${styleText(['bold', colour], cut.slice(2, head))}${cut.slice(head)}`;
}

/** Keeps a block of lines at the bottom of a terminal, below everything written through it. */
export class StatusBlock {
  private lines: string[] = [];
  private drawn = 0;

  constructor(private readonly out: NodeJS.WriteStream) {}

  /** Writes log text above the block. */
  write(text: string): void {
    this.out.write(this.erase() + text + this.draw());
  }

  /** Replaces the block's lines. */
  update(lines: string[]): void {
    this.lines = lines;
    this.out.write(this.erase() + this.draw());
  }

  /** Leaves the last block on screen and stops drawing. */
  done(): void {
    this.lines = [];
    this.drawn = 0;
  }

  private erase(): string {
    const text = this.drawn > 0 ? `\r\x1b[${this.drawn}A\x1b[J` : '';
    this.drawn = 0;
    return text;
  }

  private draw(): string {
    if (this.lines.length === 0) return '';
    this.drawn = this.lines.length;
    return `${this.lines.join('\n')}\n`;
  }
}
