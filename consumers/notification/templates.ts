/**
 * Message templates (templates/<name>/*.hbs), rendered with Handlebars: a well-kept library whose
 * `{{value}}` HTML-escapes by default, so customer-written text (names, notes) can never inject
 * markup into an email; and whose strict mode throws on a variable the context does not have,
 * which turns a template that refers to a missing field into a clear error (PermanentError: the
 * change is dead-lettered with the template and variable named) instead of a blank in a message.
 *
 * Per template folder: `subject.hbs`, `text.hbs`, `html.hbs` (email), `sms.hbs`, `push-title.hbs`,
 * `push-body.hbs`; a rule's channels say which must exist, checked at start-up. Only `html.hbs`
 * and the partials it uses (templates/partials/) escape; the other parts are plain text (an SMS
 * showing `&amp;` would be a bug), with runs of whitespace in one-line parts folded to one space.
 *
 * Helpers: `{{money amount currency}}` prints the exact decimal string the decoder produced
 * ("25000.00 USD", never through a float); `{{date iso}}` the timestamp in NOTIFY_LOCALE and
 * NOTIFY_TIME_ZONE ("November 24, 2026 at 9:15 AM UTC"); `{{concat a b ...}}` for titles.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { PermanentError } from '../core/errors.js';
import type { ChannelName } from './channels/channel.js';
import type { Rule } from './rules.js';

export interface EmailParts { readonly subject: string; readonly text: string; readonly html: string }
export interface SmsParts { readonly body: string }
export interface PushParts { readonly title: string; readonly body: string }
export interface RenderedParts { email: EmailParts; sms: SmsParts; push: PushParts }

type Part = 'subject' | 'text' | 'html' | 'sms' | 'push-title' | 'push-body';
const PARTS_BY_CHANNEL: Record<ChannelName, readonly Part[]> = {
  email: ['subject', 'text', 'html'],
  sms: ['sms'],
  push: ['push-title', 'push-body'],
};
/** Parts that are one line: subjects and push titles must not carry a customer's line breaks. */
const ONE_LINE = new Set<Part>(['subject', 'sms', 'push-title', 'push-body']);

export type TemplateContext = Record<string, unknown>;

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const DECIMAL = /^-?\d+(\.\d+)?$/;

export class Templates {
  private readonly compiled = new Map<string, Handlebars.TemplateDelegate>();

  private constructor(
    private readonly handlebars: typeof Handlebars,
    private readonly dir: string,
  ) {}

  /**
   * Compiles every part the rules' channels need (throws TemplateError naming the missing file),
   * with the partials in `<dir>/partials`.
   */
  static load(dir: string, rules: readonly Rule[], options: { locale: string; timeZone: string }): Templates {
    const handlebars = Handlebars.create();
    const dates = new Intl.DateTimeFormat(options.locale, { year: 'numeric', month: 'long', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZone: options.timeZone, timeZoneName: 'short' });
    handlebars.registerHelper('money', (amount: unknown, ...rest: unknown[]) => {
      const currency = rest.length > 1 ? rest[0] : undefined;
      const exact = typeof amount === 'number' ? String(amount) : amount;
      if (typeof exact !== 'string' || !DECIMAL.test(exact)) throw new TemplateError(`money: ${JSON.stringify(amount)} is not a decimal amount`);
      return typeof currency === 'string' && currency.trim() !== '' ? `${exact} ${currency.trim()}` : exact;
    });
    handlebars.registerHelper('date', (iso: unknown) => {
      const date = typeof iso === 'string' || typeof iso === 'number' ? new Date(iso) : null;
      if (!date || Number.isNaN(date.getTime())) throw new TemplateError(`date: ${JSON.stringify(iso)} is not a timestamp`);
      return dates.format(date);
    });
    handlebars.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map((a) => (a === null || a === undefined ? '' : String(a))).join(''));

    const partials = join(dir, 'partials');
    if (existsSync(partials)) {
      for (const file of readdirSync(partials).filter((f) => f.endsWith('.hbs'))) {
        handlebars.registerPartial(file.slice(0, -'.hbs'.length), readFileSync(join(partials, file), 'utf8'));
      }
    }

    const templates = new Templates(handlebars, dir);
    for (const rule of rules) {
      for (const channel of rule.channels) {
        for (const part of PARTS_BY_CHANNEL[channel]) templates.compile(rule.template, part);
      }
    }
    return templates;
  }

  private compile(template: string, part: Part): void {
    const key = `${template}/${part}`;
    if (this.compiled.has(key)) return;
    const file = join(this.dir, template, `${part}.hbs`);
    if (!existsSync(file)) throw new TemplateError(`template ${template} has no ${part}.hbs (needed by its rule's channels): ${file}`);
    const source = readFileSync(file, 'utf8');
    const delegate = this.handlebars.compile(source, { strict: true, noEscape: part !== 'html' });
    // Compiling is lazy: a syntax error shows at first render unless we render once now.
    try {
      this.handlebars.precompile(source, { strict: true });
    } catch (error) {
      throw new TemplateError(`${file}: ${(error as Error).message}`);
    }
    this.compiled.set(key, delegate);
  }

  /** Renders the parts of `channel`; a missing variable or bad helper input throws PermanentError. */
  render<C extends ChannelName>(template: string, channel: C, context: TemplateContext): RenderedParts[C] {
    const part = (name: Part): string => {
      const delegate = this.compiled.get(`${template}/${name}`);
      if (!delegate) throw new PermanentError(`template ${template} has no ${name} part (not loaded at start-up)`);
      let text: string;
      try {
        text = delegate(context);
      } catch (error) {
        throw new PermanentError(`template ${template}/${name}.hbs cannot be rendered: ${(error as Error).message}`, { cause: error });
      }
      return ONE_LINE.has(name) ? text.replace(/\s+/g, ' ').trim() : text.trim() + '\n';
    };
    switch (channel) {
      case 'email':
        return { subject: part('subject'), text: part('text'), html: part('html') } as RenderedParts[C];
      case 'sms':
        return { body: part('sms') } as RenderedParts[C];
      default:
        return { title: part('push-title'), body: part('push-body') } as RenderedParts[C];
    }
  }
}
