import { LUA_HELPERS } from './lua-helpers.js';

/**
 * The server-side Lua script that applies ONE row change to the cache, atomically, only if the
 * event's row version (`source.version`, see rowVersion in core/change-event.ts: 2^64 + LSN for a
 * streamed change, the LSN for a snapshot row) is newer than the version Redis holds for that row
 * (and than the last TRUNCATE of its table, see truncate-script.ts). With the truncate script, the only code that writes to Redis;
 * the TypeScript side just computes its arguments (see script-call.ts) and pipelines one call
 * per event (see redis-sink.ts). Kept as a TS string so `tsc` builds carry it along.
 *
 * Calling convention (`numberOfKeys` = 4):
 *   KEYS[1] row key            e.g. "order:1"
 *   KEYS[2] version hash       "cdc:version"      (field = the row key without prefix)
 *   KEYS[3] delete marker key  "cdc:deleted:order:1"
 *   KEYS[4] truncate hash      "cdc:truncated"    (field = entity, e.g. "order")
 *   ARGV[1]  op                "upsert" | "delete"
 *   ARGV[2]  version           decimal string without leading zeros (up to 2^65: never tonumber)
 *   ARGV[3]  field             row key without prefix ("order:1")
 *   ARGV[4]  prefix            key prefix ("" by default)
 *   ARGV[5]  view              "order" | "product" | "order_item" | "" (no derived views)
 *   ARGV[6]  id                the row's id segment ("1"), member of the derived views
 *   ARGV[7]  row JSON          the new row, compact JSON ("" for delete)
 *   ARGV[8]  row TTL seconds   "0" = no TTL
 *   ARGV[9]  delete marker TTL seconds ("0" = kept for good, the default)
 *   ARGV[10] recent_orders length (> 0)
 *   ARGV[11] view arg A        order: created_at epoch ms | product: stock_quantity | order_item: order_id
 *   ARGV[12] view arg B        order: customer_id         | product: low_stock_threshold
 *   ARGV[13] view arg C        order: customer_id in `before` | order_item: order_id in `before`
 *   ARGV[14] n = number of unchanged-TOAST columns, then n pairs:
 *            column name, fallback raw JSON value from `before` ("" = none)
 *   ("" in a view arg means null/absent.)
 *
 * Returns "applied" or "stale". Bad data is refused with an error reply starting with
 * "BADEVENT", and a derived key of the wrong type with one starting with "WRONGTYPE", BEFORE
 * anything is written (Redis does not roll a script back), so a refused event leaves no partial
 * effect.
 *
 * Why Lua does no cjson round trip of rows: cjson re-encodes numbers with 14 significant
 * digits, which would corrupt exact values. Rows are stored exactly as the client serialised
 * them; the script only extracts raw member text from stored JSON (json_member_raw).
 */
const APPLY_CHANGE_BODY = String.raw`
local row_key, version_hash, marker_key, truncated_hash = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, version, field, prefix, view, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local row_json, row_ttl, marker_ttl, recent_n = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local arg_a, arg_b, arg_c = nonempty(ARGV[11]), nonempty(ARGV[12]), nonempty(ARGV[13])

-- Phase 1: validate and decide. Nothing is written until every check has passed.
if op ~= 'upsert' and op ~= 'delete' then bad('unknown op: ' .. tostring(op)) end
if not (version == '0' or version:match('^[1-9]%d*$')) then bad('version is not a decimal row version: ' .. version) end
if op == 'upsert' and row_json:byte(1) ~= 123 then bad('row is not a JSON object') end
if view == 'product' then
  require_integer(arg_a, 'stock_quantity')
  require_integer(arg_b, 'low_stock_threshold')
elseif view == 'order' then
  require_integer(arg_a, 'created_at epoch ms')
end

-- A TRUNCATE of the table at a newer version wins over the event, whatever the row's own version.
local truncated_at = redis.call('HGET', truncated_hash, field:match('^[^:]+'))
if truncated_at and not version_newer(version, truncated_at) then return 'stale' end

local stored = redis.call('HGET', version_hash, field)
local stored_in_marker = false
if not stored then
  stored = redis.call('GET', marker_key)
  stored_in_marker = stored and true or false
end
if stored and not version_newer(version, stored) then return 'stale' end

local old = redis.call('GET', row_key)

if op == 'upsert' then
  -- Unchanged-TOAST columns: the value in 'before' (with REPLICA IDENTITY FULL it is the row as
  -- PostgreSQL had it), else the cached one, else leave the column absent.
  local toast_n = tonumber(ARGV[14]) or 0
  for t = 0, toast_n - 1 do
    local name, fallback = ARGV[15 + 2 * t], nonempty(ARGV[16 + 2 * t])
    local raw = fallback or (old and json_member_raw(old, name))
    if raw and not json_member_raw(row_json, name) then
      local member = cjson.encode(name) .. ':' .. raw
      if row_json == '{}' then row_json = '{' .. member .. '}'
      else row_json = row_json:sub(1, -2) .. ',' .. member .. '}' end
    end
  end
end

-- Every derived key this change writes must have the type the cache keeps there (a key a user
-- overwrote by hand, say): checked here, so a refusal leaves no half-written change.
local old_customer, old_order
if view == 'order' then
  old_customer = id_of(old and json_member_raw(old, 'customer_id')) or arg_c
  require_type(prefix .. 'orders:by_created_at', 'zset')
  require_type(prefix .. 'recent_orders', 'list')
  if old_customer then require_type(prefix .. 'customer:' .. old_customer .. ':orders', 'zset') end
  if op == 'upsert' and arg_b then require_type(prefix .. 'customer:' .. arg_b .. ':orders', 'zset') end
elseif view == 'product' then
  require_type(prefix .. 'low_stock_products', 'set')
elseif view == 'order_item' then
  old_order = id_of(old and json_member_raw(old, 'order_id')) or arg_c
  if old_order then require_type(prefix .. 'order:' .. old_order .. ':items', 'set') end
  if op == 'upsert' and arg_a then require_type(prefix .. 'order:' .. arg_a .. ':items', 'set') end
end

-- Phase 2: write the row, its version, and the derived views.
if op == 'upsert' then
  if row_ttl > 0 then redis.call('SET', row_key, row_json, 'EX', row_ttl)
  else redis.call('SET', row_key, row_json) end
  redis.call('HSET', version_hash, field, version)
  if stored_in_marker then redis.call('DEL', marker_key) end
else
  redis.call('DEL', row_key)
  redis.call('HDEL', version_hash, field)
  if marker_ttl > 0 then redis.call('SET', marker_key, version, 'EX', marker_ttl)
  else redis.call('SET', marker_key, version) end
end

if view == 'order' then
  local by_created = prefix .. 'orders:by_created_at'
  local list = prefix .. 'recent_orders'
  local member = sortable(id)
  local new_score = op == 'upsert' and arg_a or nil
  local new_customer = op == 'upsert' and arg_b or nil

  local old_score = redis.call('ZSCORE', by_created, member)
  if not (old_score and new_score and tonumber(old_score) == tonumber(new_score)) then
    local old_rank = old_score and redis.call('ZREVRANK', by_created, member) or nil
    local count_before = redis.call('ZCARD', by_created)
    if new_score then redis.call('ZADD', by_created, new_score, member)
    else redis.call('ZREM', by_created, member) end
    local new_rank = new_score and redis.call('ZREVRANK', by_created, member) or nil
    if (old_rank and old_rank < recent_n) or (new_rank and new_rank < recent_n) then
      -- The common case, a brand-new newest order, is a push; anything else rebuilds the list
      -- from the sorted set, which is the source of truth.
      if not old_rank and new_rank == 0 and redis.call('LLEN', list) == math.min(recent_n, count_before) then
        redis.call('LPUSH', list, id)
        if count_before >= recent_n then redis.call('RPOP', list) end
      else
        rebuild_recent(list, by_created, recent_n)
      end
    end
  end

  if old_customer and (old_customer ~= new_customer or not new_score) then
    redis.call('ZREM', prefix .. 'customer:' .. old_customer .. ':orders', id)
  end
  if new_customer and new_score then
    redis.call('ZADD', prefix .. 'customer:' .. new_customer .. ':orders', new_score, id)
  end
elseif view == 'product' then
  local stock_key = prefix .. 'product:' .. id .. ':stock'
  local low_stock = prefix .. 'low_stock_products'
  if op == 'upsert' and arg_a then
    if row_ttl > 0 then redis.call('SET', stock_key, arg_a, 'EX', row_ttl)
    else redis.call('SET', stock_key, arg_a) end
  else
    redis.call('DEL', stock_key)
  end
  if op == 'upsert' and arg_a and arg_b and tonumber(arg_a) <= tonumber(arg_b) then
    redis.call('SADD', low_stock, id)
  else
    redis.call('SREM', low_stock, id)
  end
elseif view == 'order_item' then
  local new_order = op == 'upsert' and arg_a or nil
  if old_order and old_order ~= new_order then
    redis.call('SREM', prefix .. 'order:' .. old_order .. ':items', id)
  end
  if new_order then
    redis.call('SADD', prefix .. 'order:' .. new_order .. ':items', id)
  end
end

return 'applied'
`;

/** The script for one event, called with 4 KEYS and the ARGV above. */
export const APPLY_CHANGE_LUA = LUA_HELPERS + APPLY_CHANGE_BODY;

/**
 * The script the sink calls: many events in ONE call (one command for Redis and the client
 * instead of one per event; the client-side cost per command was ~10 µs per event).
 *
 * Calling convention (no KEYS): ARGV[1] prefix, ARGV[2] delete marker TTL seconds, ARGV[3]
 * recent_orders length, then per event (script-call.ts appendBatchArgs): op, version, field, view,
 * id, row JSON, row TTL, view args A B C, n, then n TOAST pairs. From these the script rebuilds
 * the single-event KEYS and ARGV above (keys as key-layout.ts lays them out) and applies the
 * events in order, each on its own: an event that fails does not stop the others. An event
 * refused by the checks (BADEVENT, or WRONGTYPE for a derived key of the wrong type) leaves no
 * partial effect, since every check runs before the first write. Returns one
 * string per event: "applied", "stale", or "!" followed by the error (e.g. "!BADEVENT ...").
 */
export const APPLY_CHANGES_LUA = LUA_HELPERS + 'local function apply_change(KEYS, ARGV)\n' + APPLY_CHANGE_BODY + String.raw`
end

local prefix, marker_ttl, recent_n = ARGV[1], ARGV[2], ARGV[3]
local version_hash, truncated_hash = prefix .. 'cdc:version', prefix .. 'cdc:truncated'
local results = {}
local pos, last = 4, #ARGV
while pos <= last do
  local toast_n = tonumber(ARGV[pos + 10])
  local next_pos = pos + 11 + 2 * (toast_n or 0)
  if not toast_n or next_pos - 1 > last then
    return redis.error_reply('BADCALL malformed batch at ARGV[' .. pos .. ']')
  end
  local field = ARGV[pos + 2]
  local keys = { prefix .. field, version_hash, prefix .. 'cdc:deleted:' .. field, truncated_hash }
  local args = {
    ARGV[pos], ARGV[pos + 1], field, prefix, ARGV[pos + 3], ARGV[pos + 4], ARGV[pos + 5], ARGV[pos + 6],
    marker_ttl, recent_n, ARGV[pos + 7], ARGV[pos + 8], ARGV[pos + 9], ARGV[pos + 10],
  }
  for i = pos + 11, next_pos - 1 do args[#args + 1] = ARGV[i] end
  pos = next_pos
  local done, result = pcall(apply_change, keys, args)
  if done then
    results[#results + 1] = result
  elseif type(result) == 'table' and result.err then
    results[#results + 1] = '!' .. result.err
  else
    results[#results + 1] = '!' .. tostring(result)
  end
end
return results
`;
