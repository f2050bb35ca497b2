/**
 * Mailpit's REST API (https://mailpit.axllent.org/docs/api-v1/), for reading back what the
 * notification consumer sent through real SMTP, and for its chaos triggers (SMTP errors on demand).
 * Tests search by recipients unique to their run, so they never depend on other mail in Mailpit.
 */

export interface MailSummary {
  readonly ID: string;
  readonly MessageID: string;
  readonly Subject: string;
  readonly Created: string;
  readonly To: { Name: string; Address: string }[];
}

export interface MailMessage extends MailSummary {
  readonly Text: string;
  readonly HTML: string;
}

export interface ChaosTrigger {
  readonly ErrorCode: number;
  /** 0-100 */
  readonly Probability: number;
}

export class Mailpit {
  constructor(readonly url: string) {}

  private async request<T>(path: string, init?: RequestInit): Promise<T> {
    const response = await fetch(`${this.url.replace(/\/$/, '')}${path}`, { ...init, signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new Error(`Mailpit ${init?.method ?? 'GET'} ${path}: HTTP ${response.status} ${await response.text()}`);
    const type = response.headers.get('content-type') ?? '';
    return (type.includes('json') ? await response.json() : await response.text()) as T;
  }

  /** Every message matching a Mailpit search query (paged through; at most `max`), newest first. */
  async search(query: string, max = Infinity): Promise<MailSummary[]> {
    const all: MailSummary[] = [];
    for (let start = 0; ; ) {
      const limit = Math.min(1000, max - all.length);
      const page = await this.request<{ messages: MailSummary[]; messages_count: number }>(`/api/v1/search?query=${encodeURIComponent(query)}&start=${start}&limit=${limit}`);
      all.push(...page.messages);
      start += page.messages.length;
      if (page.messages.length === 0 || start >= page.messages_count || all.length >= max) return all;
    }
  }

  /** Messages to any address containing `fragment` (e.g. a run id in the local part). */
  to(fragment: string): Promise<MailSummary[]> {
    return this.search(`to:"${fragment}"`);
  }

  message(id: string): Promise<MailMessage> {
    return this.request<MailMessage>(`/api/v1/message/${id}`);
  }

  headers(id: string): Promise<Record<string, string[]>> {
    return this.request<Record<string, string[]>>(`/api/v1/message/${id}/headers`);
  }

  /** SMTP messages accepted since Mailpit started (its runtime statistics). */
  async accepted(): Promise<number> {
    return (await this.request<{ RuntimeStats: { SMTPAccepted: number } }>('/api/v1/info')).RuntimeStats.SMTPAccepted;
  }

  /** Sets (or, with none given, clears) the SMTP chaos triggers. Needs Mailpit's --enable-chaos. */
  async chaos(triggers: { Sender?: ChaosTrigger; Recipient?: ChaosTrigger; Authentication?: ChaosTrigger } = {}): Promise<void> {
    const off = { ErrorCode: 451, Probability: 0 };
    await this.request('/api/v1/chaos', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ Sender: triggers.Sender ?? off, Recipient: triggers.Recipient ?? off, Authentication: triggers.Authentication ?? off }),
    });
  }

  /** Deletes every message matching a search query. */
  async deleteSearch(query: string): Promise<void> {
    await this.request(`/api/v1/search?query=${encodeURIComponent(query)}`, { method: 'DELETE' });
  }

  /** Deletes the given messages (tests clean up their own). */
  async delete(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await this.request('/api/v1/messages', { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ IDs: ids.slice(i, i + 500) }) });
    }
  }
}

/** Counts per Message-ID (angle brackets stripped, as Mailpit shows them). */
export function countByMessageId(messages: readonly MailSummary[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of messages) counts.set(message.MessageID, (counts.get(message.MessageID) ?? 0) + 1);
  return counts;
}
