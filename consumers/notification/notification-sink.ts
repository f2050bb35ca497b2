/**
 * NotificationSink: changes of orders, customers and products -> email, SMS and push, each
 * delivered once per (rule, row, change, channel), through the ledger (ledger.ts).
 *
 * Per write (one partition's events, in Kafka order):
 * 1. match the rules table (rules.ts); snapshot rows, deletes, tombstones, TRUNCATEs and updates
 *    that match nothing are `ok` at once; an unknown status is `failed` (dead-lettered);
 * 2. look the customers up in the contacts (one round trip). A customer not known yet is looked
 *    for again for up to NOTIFY_CONTACT_POLL_MS (it is usually a few ms behind its first order);
 *    still unknown: `retry` until NOTIFY_CONTACT_WAIT_MS has passed since the change was first
 *    seen (shared in Redis, so the bound survives restarts and rebalances), then `failed` with the reason;
 * 3. render every message (delivery-plan.ts); a template error is `failed`;
 * 4. per row, in order (different rows concurrently, up to NOTIFY_SEND_CONCURRENCY): claim the
 *    event's deliveries in the ledger, send what was claimed, each channel on its own and at once,
 *    record every outcome. An event is `ok` once each of its deliveries is settled (sent, failed,
 *    skipped, held in doubt) or parked for a retry (below); else (another live instance holds a
 *    claim, Redis failed) `retry`: the runner hands it back later, the ledger skips what is
 *    already settled, and the row's later changes wait for it.
 *
 * Retries, per channel: a transient failure (SMTP 4xx, 429, 503, a refused connection) parks the
 * delivery in its channel's retry queue (`<prefix>due:<channel>` in Redis, with the rendered
 * message) and closes the channel for a capped, growing backoff (NOTIFY_CHANNEL_RETRY_*); the
 * change itself is then settled and its offset can be committed. A background retrier sends due
 * deliveries once their channel is open again, claiming them like any other (so with several
 * instances each still goes once, and a crash mid-retry is in doubt like any crash). So a failing
 * channel holds back neither the other channels of the change nor later changes, and an outage
 * never grows the consumer's lag. Nothing is ever dropped for a transient failure; the price is
 * that a retried notification may arrive after a later one about the same order.
 *
 * The sink never commits offsets and never sees Kafka. A provider outcome it could not record
 * (Redis down right after a send) is kept in memory and recorded on the next attempt instead of
 * sending again.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { Counter, Histogram } from 'prom-client';
import type { ChangeEvent, RowChangeEvent } from '../core/change-event.js';
import { backoffDelay } from '../core/backoff.js';
import { PermanentError, RetriableError, describeError, resultForError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { failed, ok, retry, type Sink, type WriteResult } from '../core/sink.js';
import { CHANNEL_NAMES, type Channel, type ChannelName, type OutgoingMessage, type SendOutcome } from './channels/channel.js';
import { EmailChannel } from './channels/email-channel.js';
import { PushChannel, pushAgent } from './channels/push-channel.js';
import { SmsChannel } from './channels/sms-channel.js';
import { ContactsStore, OPT_OUT_COLUMNS, type Contact } from './contacts-store.js';
import { canonicalPk } from './delivery-key.js';
import { addresseeFromContact, addresseeFromCustomerRow, operationsAddressee, planDeliveries, type Addressee, type Delivery, type PlanSettings } from './delivery-plan.js';
import { Ledger, type ClaimRequest, type ClaimResult, type FinishRequest } from './ledger.js';
import type { NotificationConfig } from './notification-config.js';
import { loadRuleTable, matchRules, type RuleMatch, type RuleTable } from './rules.js';
import { Templates } from './templates.js';

export interface NotificationSinkOptions {
  readonly config: NotificationConfig;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Default: host, pid and a random suffix. Two sinks must never share one. */
  readonly instanceId?: string;
  /** How long this instance counts as alive after its last heartbeat (default 5 s). */
  readonly instanceTtlMs?: number;
}

/** One event's deliveries on their way through claim, send and finish. */
interface EventWork {
  readonly index: number;
  readonly event: RowChangeEvent;
  readonly deliveries: Delivery[];
}

/** An event whose customer is not in the contacts (yet). */
interface WaitingEvent {
  readonly index: number;
  readonly event: RowChangeEvent;
  readonly matches: RuleMatch[];
  readonly customerId: string;
}

/** How often a write looks again for a contact that was missing (NOTIFY_CONTACT_POLL_MS in all). */
const CONTACT_POLL_INTERVAL_MS = 10;

/** What a delivery round needs: the ledger claim and the message (null when skipped without one). */
type Sendable = Pick<Delivery, 'claim' | 'message'>;

/** How often the retrier looks for due deliveries, and how many it takes per channel per round. */
const RETRY_TICK_MS = 250;
const RETRY_BATCH = 64;

/** Per channel: consecutive transient failures and when the channel may be tried again. */
interface ChannelGate {
  failures: number;
  closedUntil: number;
}

const DEV_OUTBOX_LENGTH = 10_000;

export class NotificationSink implements Sink {
  readonly name = 'notification';
  readonly ledger: Ledger;
  readonly contacts: ContactsStore;
  readonly rules: RuleTable;
  readonly instanceId: string;
  private readonly redis: Redis;
  private readonly channels: Record<ChannelName, Channel | null>;
  private readonly plan: PlanSettings;
  private readonly slots: Record<ChannelName, Slots>;
  private readonly gates: Record<ChannelName, ChannelGate> = { email: { failures: 0, closedUntil: 0 }, sms: { failures: 0, closedUntil: 0 }, push: { failures: 0, closedUntil: 0 } };
  /** Provider outcomes not yet recorded (Redis failed right after the send), by delivery id. */
  private readonly unrecorded = new Map<string, FinishRequest>();
  private readonly inFlight = new Set<string>();
  private readonly counters: ReturnType<typeof sinkMetrics>;
  private closed = false;
  private draining = false;
  private retrier: NodeJS.Timeout | null = null;

  constructor(private readonly options: NotificationSinkOptions) {
    const { config } = options;
    this.instanceId = options.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.redis = new Redis(config.redisUrl, {
      lazyConnect: true,
      // Claims, "sending" marks and outcomes of concurrent rows go to Redis in shared round trips.
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 10_000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    });
    this.redis.on('error', (error: Error) => options.logger.warn({ err: error }, 'redis connection error (notification ledger)'));
    this.ledger = new Ledger(this.redis, {
      prefix: config.keyPrefix,
      instanceId: this.instanceId,
      leaseMs: config.claimLeaseMs,
      ttlSeconds: config.ledgerTtlSeconds,
      attemptsMaxLength: config.attemptsMaxLength,
      instanceTtlMs: options.instanceTtlMs,
    });
    this.contacts = new ContactsStore(this.redis, config.keyPrefix, config.ledgerTtlSeconds);
    this.rules = loadRuleTable(config.rulesFile);
    const templates = Templates.load(config.templatesDir, this.rules.rules, { locale: config.locale, timeZone: config.timeZone });
    this.channels = {
      email: new EmailChannel(config.smtp, { from: config.fromEmail, sendTimeoutMs: config.sendTimeoutMs }),
      sms: config.twilio ? new SmsChannel(config.twilio, { sendTimeoutMs: config.sendTimeoutMs, maxSockets: config.providerConcurrency }) : null,
      push: config.fcm ? new PushChannel(config.fcm, pushAgent(config.fcm, config.providerConcurrency)) : null,
    };
    this.slots = { email: new Slots(config.smtp.poolConnections), sms: new Slots(config.providerConcurrency), push: new Slots(config.providerConcurrency) };
    this.plan = {
      templates,
      shopName: config.shopName,
      operationsEmail: config.operationsEmail,
      messageIdDomain: config.messageIdDomain,
      rateLimitPerMinute: config.rateLimitPerMinute,
      inDoubt: config.inDoubt,
      live: { email: true, sms: this.channels.sms !== null, push: this.channels.push !== null },
      rateKey: (channel, who) => this.ledger.keys.rate(channel, who),
      memory: { ledgerTtlMs: config.ledgerTtlSeconds * 1000, now: Date.now },
    };
    this.counters = sinkMetrics(options.metrics);
  }

  async start(): Promise<void> {
    await this.redis.connect();
    await this.ledger.start();
    for (const channel of Object.values(this.channels)) await channel?.start();
    this.retrier = setInterval(() => void this.drainRetryQueues(), RETRY_TICK_MS);
    this.retrier.unref();
    for (const name of CHANNEL_NAMES) {
      if (!this.channels[name]) this.options.logger.warn({ channel: name }, `no ${name} credentials configured: ${name} messages go to the dev outbox (${this.ledger.keys.devOutbox}), recorded as skipped, never sent`);
    }
    this.options.logger.info({ instanceId: this.instanceId, rules: this.rules.rules.map((r) => r.name) }, 'notification sink ready');
  }

  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    const results: WriteResult[] = new Array(events.length).fill(ok);
    const matched: { index: number; event: RowChangeEvent; matches: RuleMatch[] }[] = [];
    events.forEach((event, index) => {
      // Snapshot rows, deletes, tombstones and TRUNCATEs never notify.
      if (event.op !== 'create' && event.op !== 'update') return;
      try {
        const matches = matchRules(this.rules, event);
        if (matches.length > 0) matched.push({ index, event, matches });
      } catch (error) {
        results[index] = resultForError(error);
      }
    });
    if (matched.length === 0) return results;

    let contacts: Map<string, Contact | null>;
    try {
      contacts = await this.contacts.getMany(matched.flatMap(({ matches }) => matches.flatMap((m) => (m.rule.recipient.kind === 'customer' ? [String(m.row[m.rule.recipient.column])] : []))));
    } catch (error) {
      const failure = retry(new RetriableError('cannot read contacts from Redis', { cause: error }));
      for (const { index } of matched) results[index] = failure;
      return results;
    }

    const work: EventWork[] = [];
    let waiting: WaitingEvent[] = [];
    const plan = (entries: readonly { index: number; event: RowChangeEvent; matches: RuleMatch[] }[]) => {
      for (const { index, event, matches } of entries) {
        try {
          const deliveries: Delivery[] = [];
          let unknownCustomer: string | null = null;
          for (const match of matches) {
            const to = this.addressee(event, match, contacts);
            if (typeof to === 'string') {
              unknownCustomer = to;
              break;
            }
            deliveries.push(...planDeliveries(event, match, to, this.plan));
          }
          if (unknownCustomer !== null) waiting.push({ index, event, matches, customerId: unknownCustomer });
          else work.push({ index, event, deliveries });
        } catch (error) {
          results[index] = resultForError(error);
        }
      }
    };
    plan(matched);
    if (waiting.length > 0) {
      // A customer created with its first order is usually in the contacts a few milliseconds
      // after the order arrives (the contacts pipeline runs in this process): look again briefly
      // before answering retry, which backs the whole partition off.
      const late = await this.pollContacts([...new Set(waiting.map((w) => w.customerId))]);
      if (late.size > 0) {
        for (const [id, contact] of late) contacts.set(id, contact);
        const again = waiting;
        waiting = [];
        plan(again);
      }
    }
    if (waiting.length > 0) await this.waitForContacts(waiting, results);

    // Per row in Kafka order, rows concurrently. A change waiting for its customer holds back
    // the later changes of its row, so a row's notifications never overtake each other.
    const rows = new Map<string, { index: number; work: EventWork | null }[]>();
    const entries = [...work.map((w) => ({ index: w.index, event: w.event, work: w as EventWork | null })), ...waiting.map((w) => ({ index: w.index, event: w.event, work: null }))];
    entries.sort((a, b) => a.index - b.index);
    for (const entry of entries) {
      const rowKey = `${entry.event.table}|${canonicalPk(entry.event.key)}`;
      const list = rows.get(rowKey);
      if (list) list.push(entry);
      else rows.set(rowKey, [entry]);
    }
    await forEachLimit([...rows.values()], this.options.config.sendConcurrency, async (row) => {
      let blocked = false;
      for (const { index, work: item } of row) {
        if (blocked) results[index] = retry(new RetriableError('waiting for an earlier change of the same row'));
        else if (item) results[index] = await this.deliver(item);
        blocked ||= results[index]!.status === 'retry';
      }
    });
    return results;
  }

  /** The recipient of a match, or the id of a customer whose contact is not known yet. */
  private addressee(event: RowChangeEvent, match: RuleMatch, contacts: Map<string, Contact | null>): Addressee | string {
    const recipient = match.rule.recipient;
    switch (recipient.kind) {
      case 'operations':
        return operationsAddressee(this.options.config.operationsEmail);
      case 'row': {
        const optedOut = new Set<ChannelName>();
        for (const [column, channels] of Object.entries(OPT_OUT_COLUMNS)) if (match.row[column] === true) channels.forEach((c) => optedOut.add(c));
        return addresseeFromCustomerRow(event.key, match.row, optedOut);
      }
      case 'customer': {
        const id = match.row[recipient.column];
        if (id === null || id === undefined) throw new PermanentError(`rule ${match.rule.name}: ${event.table}.${recipient.column} is empty: no customer to notify`);
        const contact = contacts.get(String(id));
        return contact ? addresseeFromContact(contact) : String(id);
      }
    }
  }

  /** The contacts of `ids` that appear within NOTIFY_CONTACT_POLL_MS (looked up every 10 ms). */
  private async pollContacts(ids: readonly string[]): Promise<Map<string, Contact>> {
    const found = new Map<string, Contact>();
    const deadline = Date.now() + this.options.config.contactPollMs;
    while (found.size < ids.length && Date.now() < deadline) {
      await new Promise((resolveWait) => setTimeout(resolveWait, CONTACT_POLL_INTERVAL_MS));
      let contacts: Map<string, Contact | null>;
      try {
        contacts = await this.contacts.getMany(ids.filter((id) => !found.has(id)));
      } catch {
        break; // Redis trouble: the retry path below handles it
      }
      for (const [id, contact] of contacts) if (contact) found.set(id, contact);
    }
    return found;
  }

  /** Unknown customer: retry until NOTIFY_CONTACT_WAIT_MS after the change was first seen, then dead-letter. */
  private async waitForContacts(waiting: readonly WaitingEvent[], results: WriteResult[]): Promise<void> {
    const waitMs = this.options.config.contactWaitMs;
    const now = Date.now();
    const pipeline = this.redis.pipeline();
    const keys = waiting.map(({ event }) => this.ledger.keys.wait(`${event.table}/${canonicalPk(event.key)}/${event.source.lsn}`));
    for (const key of keys) pipeline.set(key, String(now), 'PX', waitMs * 2 + 600_000, 'NX').get(key);
    let replies: [Error | null, unknown][] | null = null;
    try {
      replies = await pipeline.exec();
    } catch {
      replies = null;
    }
    waiting.forEach(({ index, event, customerId }, position) => {
      const firstSeen = Number(replies?.[position * 2 + 1]?.[1] ?? now);
      const waited = now - firstSeen;
      if (replies && waited >= waitMs) {
        results[index] = failed(new PermanentError(
          `customer ${customerId} of ${event.table} ${canonicalPk(event.key)} is still unknown after ${Math.round(waited / 1000)} s ` +
          `(NOTIFY_CONTACT_WAIT_MS=${waitMs}): no change of that customer arrived on the customers topic`,
        ));
      } else {
        results[index] = retry(new RetriableError(`waiting for customer ${customerId} to arrive on the customers topic (${Math.round(waited / 1000)} s of ${Math.round(waitMs / 1000)} s)`));
      }
    });
  }

  /** Claims, sends and records one event's deliveries; `ok` once each is settled or parked for a retry. */
  private async deliver(item: EventWork): Promise<WriteResult> {
    const unsettled = await this.attempt(item.deliveries);
    if (unsettled.length === 0) return ok;
    return retry(new RetriableError(`not every notification of ${item.event.table} ${canonicalPk(item.event.key)} is settled: ${unsettled.join('; ')}`));
  }

  /**
   * One round for these deliveries (of one change, or due in a retry queue): claim them, send what
   * was claimed (all at once), record every outcome. A transient failure, or a channel still
   * backing off, parks the delivery in its channel's retry queue with its message: it is then
   * settled as far as the change is concerned, and the retrier sends it when it is due. Returns
   * what is NOT settled: claims held by another live instance, ledger failures.
   */
  private async attempt(deliveries: readonly Sendable[]): Promise<string[]> {
    const unsettled: string[] = [];
    let claims: (ClaimResult | Error)[];
    try {
      claims = await this.ledger.claim(deliveries.map((d) => d.claim));
    } catch (error) {
      return deliveries.map((d) => `${d.claim.channel}: cannot claim in the ledger: ${(error as Error).message}`);
    }
    const now = Date.now();
    const sends: Promise<FinishRequest | null>[] = [];
    deliveries.forEach((delivery, position) => {
      const claim = claims[position]!;
      const { rule, id } = delivery.claim;
      const channel = delivery.claim.channel as ChannelName;
      if (claim instanceof Error) {
        unsettled.push(`${channel}: ledger claim failed: ${claim.message}`);
        return;
      }
      switch (claim.status) {
        case 'done':
          this.counters.deliveries.inc({ rule, channel, outcome: 'already_settled' });
          return;
        case 'skipped':
          this.counters.deliveries.inc({ rule, channel, outcome: 'skipped' });
          if (delivery.claim.skipReason?.startsWith('no credentials') && delivery.message) void this.toDevOutbox(delivery.claim, delivery.message);
          return;
        case 'in-doubt':
          this.counters.deliveries.inc({ rule, channel, outcome: 'in_doubt' });
          this.options.logger.warn({ delivery: id, reason: claim.reason }, `${channel} delivery in doubt: held, not resent`);
          return;
        case 'busy':
          unsettled.push(`${channel}: claimed by live instance ${claim.holder}`);
          return;
        case 'mine': {
          const pending = this.unrecorded.get(id);
          if (pending) sends.push(Promise.resolve(pending));
          else if (this.inFlight.has(id)) unsettled.push(`${channel}: already being sent by this instance`);
          else sends.push(this.sendOrPark(delivery, claim.attempt, '', now));
          return;
        }
        case 'claimed':
        case 'resend':
          if (claim.status === 'resend' || claim.doubt !== '') {
            this.options.logger.warn({ delivery: id, reason: claim.doubt }, `${channel} delivery was in doubt: sending it again (same ${channel === 'email' ? 'Message-ID' : 'collapse key'})`);
          }
          sends.push(this.sendOrPark(delivery, claim.attempt, claim.doubt, now));
      }
    });

    const finished: FinishRequest[] = [];
    for (const [index, request] of (await Promise.all(sends)).entries()) {
      if (request) finished.push(request);
      else unsettled.push(`delivery ${index}: claim no longer ours or not marked sending; not sent`);
    }
    let records: Awaited<ReturnType<Ledger['finish']>> = [];
    try {
      records = await this.ledger.finish(finished);
    } catch (error) {
      return [...unsettled, ...finished.map((r) => `${r.claim.channel}: outcome not recorded (kept, recorded next time): ${(error as Error).message}`)];
    }
    finished.forEach((request, position) => {
      const record = records[position];
      if (record instanceof Error || record === undefined) {
        unsettled.push(`${request.claim.channel}: outcome not recorded: ${record instanceof Error ? record.message : 'no reply'}`);
        return;
      }
      this.unrecorded.delete(request.claim.id);
      if (record.status !== 'ok') this.options.logger.warn({ delivery: request.claim.id, outcome: request.state, ledgerState: record.state }, `claim was taken over while sending (${record.status})`);
    });
    return unsettled;
  }

  /** Sends a claimed delivery, or parks it without a provider call while its channel backs off. */
  private sendOrPark(delivery: Sendable, attempt: number, earlierDoubt: string, now: number): Promise<FinishRequest | null> {
    const channel = delivery.claim.channel as ChannelName;
    const gate = this.gates[channel];
    if (gate.closedUntil > now && delivery.message) {
      this.counters.deliveries.inc({ rule: delivery.claim.rule, channel, outcome: 'retry' });
      return Promise.resolve({
        claim: delivery.claim, state: 'retry', providerId: null, doubt: null,
        reason: `not attempted: ${channel} is backing off after ${gate.failures} failure(s)`,
        park: { dueAt: gate.closedUntil, message: JSON.stringify(delivery.message) },
      });
    }
    return this.send(delivery, attempt, earlierDoubt);
  }

  /**
   * One provider call, with the outcome turned into what the ledger records. Waits for one of the
   * channel's send slots first (as many as the provider connections, so a claim marked "sending"
   * goes on the wire at once instead of queueing in a client library), then marks the claim
   * "sending". Null when the claim is no longer ours (or could not be marked): nothing was sent.
   * Never throws.
   */
  private async send(delivery: Sendable, attempt: number, earlierDoubt: string): Promise<FinishRequest | null> {
    const { rule, id } = delivery.claim;
    const channel = delivery.claim.channel as ChannelName;
    const provider = this.channels[channel];
    const message = delivery.message;
    if (!provider || !message) {
      // Claimed although there is nothing to send: only if the configuration changed between
      // attempts (credentials removed). Recorded as failed rather than retried forever.
      return { claim: delivery.claim, state: 'failed', providerId: null, reason: provider ? 'no address' : 'no credentials any more', doubt: null };
    }
    this.inFlight.add(id);
    const release = await this.slots[channel].acquire();
    const started = process.hrtime.bigint();
    let outcome: SendOutcome;
    try {
      const marked = await this.ledger.markSending(id).catch((error: unknown) => {
        this.options.logger.warn({ err: error, delivery: id }, 'could not mark the claim sending: not sending now');
        return false;
      });
      if (!marked) return null;
      outcome = await withTimeout(provider.send(message as never), this.options.config.sendTimeoutMs + 2_000);
    } finally {
      release();
      this.inFlight.delete(id);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.counters.sendSeconds.observe({ channel, outcome: outcome.kind }, seconds);
    this.updateGate(channel, outcome);

    const request = this.finishFor(delivery, outcome, attempt);
    this.unrecorded.set(id, request);
    this.counters.deliveries.inc({ rule, channel, outcome: request.state === 'in-doubt' ? 'in_doubt' : request.state });
    const log = { delivery: id, attempt, to: delivery.claim.recipient, outcome: outcome.kind, ...(earlierDoubt ? { earlierDoubt } : {}) };
    switch (outcome.kind) {
      case 'sent':
        this.counters.commitToSend.observe({ channel }, Math.max(0, Date.now() - delivery.claim.commitTimeMs) / 1000);
        this.options.logger.debug({ ...log, providerId: outcome.providerId }, `${channel} sent`);
        break;
      case 'rejected':
        this.options.logger.warn({ ...log, reason: outcome.reason }, `${channel} rejected by the provider: recorded as failed, not retried`);
        break;
      case 'not-sent':
        this.options.logger.warn({ ...log, reason: outcome.reason }, `${channel} not sent (transient): parked for a retry with backoff`);
        break;
      case 'unknown':
        this.options.logger.warn({ ...log, reason: outcome.reason, policy: delivery.claim.inDoubt }, `${channel} outcome unknown: in doubt`);
    }
    return request;
  }

  private finishFor(delivery: Sendable, outcome: SendOutcome, attempt: number): FinishRequest {
    const base = { claim: delivery.claim, providerId: null, doubt: null };
    const park = () => ({ dueAt: Date.now() + backoffDelay(attempt, this.options.config.channelRetry), message: JSON.stringify(delivery.message) });
    switch (outcome.kind) {
      case 'sent':
        return { ...base, state: 'sent', providerId: outcome.providerId, reason: '' };
      case 'rejected':
        return { ...base, state: 'failed', reason: outcome.reason };
      case 'not-sent':
        return { ...base, state: 'retry', reason: outcome.reason, park: park() };
      case 'unknown':
        return delivery.claim.inDoubt === 'resend'
          ? { ...base, state: 'retry', reason: outcome.reason, doubt: outcome.reason, park: park() }
          : { ...base, state: 'in-doubt', reason: outcome.reason, doubt: outcome.reason };
    }
  }

  /**
   * The retrier: every RETRY_TICK_MS, each channel that is not backing off sends its parked
   * deliveries that are due (claimed like any other, so with several instances each goes once).
   */
  private async drainRetryQueues(): Promise<void> {
    if (this.draining || this.closed) return;
    this.draining = true;
    try {
      for (const channel of CHANNEL_NAMES) {
        if (!this.channels[channel] || this.gates[channel].closedUntil > Date.now()) continue;
        const parked = await this.ledger.dueDeliveries(channel, Date.now(), RETRY_BATCH);
        if (parked.length === 0) continue;
        const deliveries = parked.map((p): Sendable => ({ claim: p.claim, message: JSON.parse(p.message) as OutgoingMessage }));
        const unsettled = await this.attempt(deliveries);
        if (unsettled.length > 0) this.options.logger.debug({ channel, unsettled }, 'retry queue: some deliveries stay parked');
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, 'retry queue round failed; trying again');
    } finally {
      this.draining = false;
    }
  }

  private updateGate(channel: ChannelName, outcome: SendOutcome): void {
    const gate = this.gates[channel];
    if (outcome.kind === 'not-sent' || outcome.kind === 'unknown') {
      gate.failures++;
      gate.closedUntil = Date.now() + backoffDelay(gate.failures, this.options.config.channelRetry);
    } else {
      gate.failures = 0;
      gate.closedUntil = 0;
    }
  }

  /** No credentials for the channel: the message is shown, clearly labelled, never sent. */
  private async toDevOutbox(claim: ClaimRequest, message: OutgoingMessage): Promise<void> {
    const channel = claim.channel;
    const shown = message.channel === 'email' ? { subject: message.subject, text: message.text } : message.channel === 'sms' ? { body: message.body } : { title: message.title, body: message.body };
    this.options.logger.info({ delivery: claim.id, to: claim.recipient, ...shown }, `DEV OUTBOX (no ${channel} credentials configured): NOT sent`);
    await this.redis
      .xadd(this.ledger.keys.devOutbox, 'MAXLEN', '~', DEV_OUTBOX_LENGTH, '*', 'id', claim.id, 'channel', channel, 'to', claim.recipient, 'message', JSON.stringify(shown), 'note', 'NOT SENT: no credentials configured')
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not write to the dev outbox'));
  }

  async isReady(): Promise<boolean> {
    if (this.closed || this.redis.status !== 'ready') return false;
    return (await this.redis.ping().catch(() => null)) === 'PONG';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retrier) clearInterval(this.retrier);
    while (this.draining) await new Promise((resolve) => setTimeout(resolve, 20));
    await this.ledger.stop();
    for (const channel of Object.values(this.channels)) await channel?.close().catch(() => undefined);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function sinkMetrics(metrics: Metrics | undefined) {
  const registers = metrics ? [metrics.registry] : [];
  return {
    deliveries: new Counter({
      name: 'notification_deliveries_total',
      help: 'Delivery attempts and decisions by rule, channel and outcome (sent, failed, retry, in_doubt, skipped, already_settled)',
      labelNames: ['rule', 'channel', 'outcome'],
      registers,
    }),
    sendSeconds: new Histogram({
      name: 'notification_send_seconds',
      help: 'Duration of one provider call, by channel and outcome kind',
      labelNames: ['channel', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    commitToSend: new Histogram({
      name: 'notification_commit_to_send_seconds',
      help: 'Seconds from the PostgreSQL commit of a change to the provider accepting its notification',
      labelNames: ['channel'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
  };
}

function withTimeout(promise: Promise<SendOutcome>, ms: number): Promise<SendOutcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'unknown', reason: `no answer within ${ms} ms` }), ms);
    promise.then(
      (outcome) => { clearTimeout(timer); resolve(outcome); },
      (error: unknown) => { clearTimeout(timer); resolve({ kind: 'unknown', reason: describeError(error) }); },
    );
  });
}

/** A counting semaphore: at most `size` holders at once, the others wait in order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}
