/**
 * Credentials inside URLs (`postgres://user:secret@host`, `redis://:secret@host`) never reach a
 * log line, an error message or a dead-letter header. The one helper for it: the logger masks
 * every string it writes with it, describeError (logs, DLQ headers) and ConfigError (start-up
 * messages) use it, and so does any message that quotes a configured URL.
 *
 * Only the password part goes: `postgres://user:***@host` still says who connected where.
 */
const URL_CREDENTIALS = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^\s:/?#@]*):[^\s/?#@]*@/g;

/** `text` with the password of every URL in it replaced by `***`. */
export function maskUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1$2:***@');
}
