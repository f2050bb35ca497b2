/**
 * Recipients as the audit trail and logs show them: enough to tell two apart and to answer a
 * customer ("the SMS went to your number ending 4567"), never the whole address.
 */
import type { ChannelName } from './channels/channel.js';

/** "emma.johnson1@example.com" -> "e***@example.com" */
export function redactEmail(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 1) return '***';
  return `${address[0]}***${address.slice(at)}`;
}

/** "+15551007919" -> "+*******7919" */
export function redactPhone(number: string): string {
  const digits = number.replace(/\D/g, '');
  if (digits.length < 6) return '***';
  return `${number.startsWith('+') ? '+' : ''}${'*'.repeat(digits.length - 4)}${digits.slice(-4)}`;
}

/** A push token: its first 6 characters and its length. */
export function redactPushToken(token: string): string {
  return `${token.slice(0, 6)}…(${token.length})`;
}

export function redactRecipient(channel: ChannelName, recipient: string): string {
  return channel === 'email' ? redactEmail(recipient) : channel === 'sms' ? redactPhone(recipient) : redactPushToken(recipient);
}
