/**
 * What `npm start` prints for a consumer's output. Each consumer writes JSON lines (its stdout is
 * a pipe, so its pino logger writes JSON); on a terminal they are made human-readable with
 * pino-pretty and prefixed with the consumer's name in its own colour, otherwise they pass through
 * as JSON (each line already carries `consumer`). Anything that is not a JSON line (a crash trace
 * on stderr) is kept: prefixed on a terminal, wrapped into a JSON line otherwise.
 */
import { styleText } from 'node:util';
import { prettyFactory } from 'pino-pretty';

const COLOURS = ['cyan', 'magenta', 'yellow', 'blue', 'green', 'red'] as const;
export type Colour = (typeof COLOURS)[number];

export const colourFor = (index: number): Colour => COLOURS[index % COLOURS.length]!;

/** Splits a byte stream into lines; `flush()` returns what is left without a newline. */
export class LineSplitter {
  private rest = '';

  push(chunk: Buffer | string): string[] {
    const text = this.rest + chunk.toString();
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.filter((line) => line !== '');
  }

  flush(): string[] {
    const rest = this.rest;
    this.rest = '';
    return rest === '' ? [] : [rest];
  }
}

export interface LineFormatter {
  /** The text to print (with a trailing newline) for one line of a consumer's output. */
  format(line: string, stream: 'stdout' | 'stderr'): string;
}

/** On a terminal: pino-pretty, each line prefixed "name │ " in the consumer's colour. */
export function prettyFormatter(name: string, width: number, colour: Colour, colours = true): LineFormatter {
  const pretty = prettyFactory({ colorize: colours, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,consumer', singleLine: true });
  const label = name.padEnd(width);
  const prefix = colours ? `${styleText(['bold', colour], label)} ${styleText('dim', '│')} ` : `${label} │ `;
  return {
    format(line, stream) {
      let text = line;
      if (line.startsWith('{')) {
        try {
          text = pretty(JSON.parse(line)).replace(/\n$/, '');
        } catch {
          // not JSON after all: shown as it is
        }
      } else if (stream === 'stderr' && colours) {
        text = styleText('red', line);
      }
      return `${text.split('\n').map((part) => prefix + part).join('\n')}\n`;
    },
  };
}

/** Not a terminal: JSON lines unchanged; other text wrapped into a JSON line of the consumer. */
export function jsonFormatter(name: string): LineFormatter {
  return {
    format(line, stream) {
      if (line.startsWith('{')) {
        try {
          JSON.parse(line);
          return `${line}\n`;
        } catch {
          // fall through: wrap it
        }
      }
      return `${JSON.stringify({ level: stream === 'stderr' ? 'error' : 'info', time: Date.now(), consumer: name, stream, msg: line })}\n`;
    },
  };
}
