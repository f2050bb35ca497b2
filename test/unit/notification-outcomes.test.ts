/**
 * What each provider's failure means for the ledger (sent / rejected / not-sent / unknown): the
 * error shapes are the ones nodemailer, twilio and firebase-admin produce (the integration tests
 * run the same libraries against Mailpit, smtp-server and the local Twilio/FCM peers).
 */
import { describe, expect, it } from 'vitest';
import { outcomeForSmtpError } from '../../consumers/notification/channels/email-channel.js';
import { outcomeForFcmError } from '../../consumers/notification/channels/push-channel.js';
import { outcomeForTwilioError } from '../../consumers/notification/channels/sms-channel.js';

const smtp = (message: string, fields: Record<string, unknown>) => Object.assign(new Error(message), fields);

describe('SMTP outcomes', () => {
  it.each([
    ['451 on RCPT (Mailpit chaos)', smtp("Can't send mail - all recipients were rejected: 451 4.3.0 chaos", { code: 'EENVELOPE', responseCode: 451, command: 'RCPT TO' }), 'not-sent'],
    ['421 on MAIL FROM', smtp('421 too busy', { code: 'EENVELOPE', responseCode: 421, command: 'MAIL FROM' }), 'not-sent'],
    ['550 mailbox unavailable', smtp('550 5.1.1 no such user', { code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO' }), 'rejected'],
    ['554 after DATA', smtp('554 message refused', { code: 'EMESSAGE', responseCode: 554, command: 'DATA' }), 'rejected'],
    ['connection refused', smtp('connect ECONNREFUSED 127.0.0.1:1025', { code: 'ESOCKET', errno: -111, syscall: 'connect', command: 'CONN' }), 'not-sent'],
    ['no greeting', smtp('Greeting never received', { code: 'ETIMEDOUT', command: 'CONN' }), 'not-sent'],
    ['connection closed mid-exchange', smtp('Connection closed unexpectedly', { code: 'ECONNECTION', command: 'CONN' }), 'unknown'],
    ['the pool giving up after a close while sending', new Error('Reached maximum number of retries after connection was closed'), 'unknown'],
    ['socket timeout after DATA', smtp('Timeout', { code: 'ETIMEDOUT', command: 'CONN' }), 'unknown'],
  ])('%s -> %s', (_label, error, kind) => {
    expect(outcomeForSmtpError(error).kind).toBe(kind);
  });
});

describe('Twilio outcomes', () => {
  const rest = (status: number, code: number | undefined, message: string) => Object.assign(new Error(message), { status, code, moreInfo: '' });
  it.each([
    ['21211 invalid number', rest(400, 21211, "The 'To' number is not a valid phone number."), 'rejected'],
    ['21610 unsubscribed', rest(400, 21610, 'Attempt to send to unsubscribed recipient'), 'rejected'],
    ['20429 too many requests', rest(429, 20429, 'Too Many Requests'), 'not-sent'],
    ['503 service unavailable', rest(503, 20503, 'Service Unavailable'), 'not-sent'],
    ['401 bad credentials (fix them: nothing is dropped)', rest(401, 20003, 'Authenticate'), 'not-sent'],
    ['another 4xx', rest(400, 21602, 'Message body is required'), 'rejected'],
    ['500 after the request arrived', rest(500, undefined, 'Internal error'), 'unknown'],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'not-sent'],
    ['socket hang up after sending', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'unknown'],
    ['timeout', Object.assign(new Error('timeout of 15000ms exceeded'), { code: 'ECONNABORTED' }), 'unknown'],
  ])('%s -> %s', (_label, error, kind) => {
    expect(outcomeForTwilioError(error).kind).toBe(kind);
  });
});

describe('FCM outcomes', () => {
  const fcm = (code: string, message = code) => Object.assign(new Error(message), { code });
  it.each([
    ['unregistered token', fcm('messaging/registration-token-not-registered'), 'rejected'],
    ['invalid argument', fcm('messaging/invalid-argument'), 'rejected'],
    ['quota exceeded (429)', fcm('messaging/message-rate-exceeded'), 'not-sent'],
    ['server unavailable (503)', fcm('messaging/server-unavailable'), 'not-sent'],
    ['token server down', fcm('app/invalid-credential', 'Failed to fetch a valid Google OAuth2 access token'), 'not-sent'],
    ['FCM unreachable', fcm('app/network-error', 'Error while making request: connect ECONNREFUSED. Error code: ECONNREFUSED'), 'not-sent'],
    ['reset after sending', fcm('app/network-error', 'Error while making request: socket hang up. Error code: ECONNRESET'), 'unknown'],
    ['internal error (500)', fcm('messaging/internal-error'), 'unknown'],
  ])('%s -> %s', (_label, error, kind) => {
    expect(outcomeForFcmError(error).kind).toBe(kind);
  });
});
