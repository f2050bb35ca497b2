/**
 * The server-side Lua script that applies ONE row change to the cache, atomically, only if the
 * event's LSN is newer than the LSN Redis holds for that row. It is the only code that writes to
 * Redis; the TypeScript side just computes its arguments (see script-call.ts) and pipelines one
 * call per event (see redis-sink.ts). Kept as a TS string so `tsc` builds carry it along.
 *
 * Calling convention (`numberOfKeys` = 3):
 *   KEYS[1] row key            e.g. "order:1"
 *   KEYS[2] LSN hash           "cdc:lsn"          (field = the row key without prefix)
 *   KEYS[3] delete marker key  "cdc:deleted:order:1"
 *   ARGV[1]  op                "upsert" | "delete"
 *   ARGV[2]  lsn               decimal string without leading zeros (may exceed 2^53)
 *   ARGV[3]  field             row key without prefix ("order:1")
 *   ARGV[4]  prefix            key prefix ("" by default)
 *   ARGV[5]  view              "order" | "product" | "order_item" | "" (no derived views)
 *   ARGV[6]  id                the row's id segment ("1"), member of the derived views
 *   ARGV[7]  row JSON          the new row, compact JSON ("" for delete)
 *   ARGV[8]  row TTL seconds   "0" = no TTL
 *   ARGV[9]  delete marker TTL seconds (> 0)
 *   ARGV[10] recent_orders length (> 0)
 *   ARGV[11] view arg A        order: created_at epoch ms | product: stock_quantity | order_item: order_id
 *   ARGV[12] view arg B        order: customer_id         | product: low_stock_threshold
 *   ARGV[13] view arg C        order: customer_id in `before` | order_item: order_id in `before`
 *   ARGV[14] n = number of unchanged-TOAST columns, then n pairs:
 *            column name, fallback raw JSON value from `before` ("" = none)
 *   ("" in a view arg means null/absent.)
 *
 * Returns "applied" or "stale". Bad data is refused with an error reply starting with
 * "BADEVENT" BEFORE anything is written (Redis does not roll a script back), so a refused event
 * leaves no partial effect.
 *
 * Why Lua does no cjson round trip of rows: cjson re-encodes numbers with 14 significant
 * digits, which would corrupt exact values. Rows are stored exactly as the client serialised
 * them; the script only extracts raw member text from stored JSON (json_member_raw).
 */
export const APPLY_CHANGE_LUA = String.raw`
local RECENT_PAD = 20

-- Refuses the event: an error reply starting with BADEVENT, which the sink maps to 'failed'.
local function bad(message) error({ err = 'BADEVENT ' .. message }) end

-- LSNs are decimal strings without leading zeros: the longer one is bigger, equal lengths
-- compare as strings. Never tonumber(): doubles lose exactness beyond 2^53.
local function lsn_newer(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end

-- Index just past the JSON string starting at i (s:sub(i, i) == '"').
local function skip_string(s, i)
  i = i + 1
  while true do
    local c = s:find('["\\]', i)
    if not c then bad('stored row is not valid JSON (unterminated string)') end
    if s:byte(c) == 92 then i = c + 2 else return c + 1 end
  end
end

-- Index just past the JSON value starting at i.
local function skip_value(s, i)
  local b = s:byte(i)
  if b == 34 then return skip_string(s, i) end
  if b == 123 or b == 91 then
    local depth = 0
    while true do
      local c = s:find('["{}%[%]]', i)
      if not c then bad('stored row is not valid JSON (unbalanced brackets)') end
      local cb = s:byte(c)
      if cb == 34 then
        i = skip_string(s, c)
      else
        if cb == 123 or cb == 91 then depth = depth + 1 else depth = depth - 1 end
        i = c + 1
        if depth == 0 then return i end
      end
    end
  end
  return s:find('[,}%]%s]', i) or (#s + 1)
end

-- The raw JSON text of top-level member 'name' of the JSON object s, or nil.
local function json_member_raw(s, name)
  if type(s) ~= 'string' or s:byte(1) ~= 123 then return nil end
  local i = 2
  while true do
    i = s:find('%S', i)
    if not i or s:byte(i) == 125 then return nil end
    if s:byte(i) == 44 then i = s:find('%S', i + 1) end
    if not i or s:byte(i) ~= 34 then return nil end
    local key_end = skip_string(s, i)
    local key = s:sub(i + 1, key_end - 2)
    i = s:find('%S', key_end)
    if not i or s:byte(i) ~= 58 then return nil end
    i = s:find('%S', i + 1)
    if not i then return nil end
    local value_end = skip_value(s, i)
    if key == name then return s:sub(i, value_end - 1) end
    i = value_end
  end
end

-- A raw JSON scalar as a key segment: strings lose their quotes (same rule as key-layout.ts).
local function id_of(raw)
  if not raw or raw == 'null' then return nil end
  if raw:byte(1) == 34 then return raw:sub(2, -2) end
  return raw
end

local function nonempty(v)
  if v == nil or v == '' then return nil end
  return v
end

local function require_integer(v, what)
  if v and not v:match('^%-?%d+$') then
    bad(what .. ' is not an integer: ' .. v)
  end
  return v
end

-- Numeric order ids are zero-padded inside the sorted set so that orders created in the same
-- millisecond (one bulk INSERT) sort by id, not as strings ("9" > "10").
local function sortable(id)
  if id:match('^%d+$') and #id < RECENT_PAD then return string.rep('0', RECENT_PAD - #id) .. id end
  return id
end
local function unsortable(member)
  if member:match('^%d+$') then return (member:gsub('^0+(%d)', '%1')) end
  return member
end

local function rebuild_recent(list, by_created, n)
  local members = redis.call('ZREVRANGE', by_created, 0, n - 1)
  redis.call('DEL', list)
  for i = 1, #members, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #members) do chunk[#chunk + 1] = unsortable(members[j]) end
    redis.call('RPUSH', list, unpack(chunk))
  end
end

local row_key, lsn_hash, marker_key = KEYS[1], KEYS[2], KEYS[3]
local op, lsn, field, prefix, view, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local row_json, row_ttl, marker_ttl, recent_n = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local arg_a, arg_b, arg_c = nonempty(ARGV[11]), nonempty(ARGV[12]), nonempty(ARGV[13])

-- Phase 1: validate and decide. Nothing is written until every check has passed.
if op ~= 'upsert' and op ~= 'delete' then bad('unknown op: ' .. tostring(op)) end
if not (lsn == '0' or lsn:match('^[1-9]%d*$')) then bad('lsn is not a decimal LSN: ' .. lsn) end
if op == 'upsert' and row_json:byte(1) ~= 123 then bad('row is not a JSON object') end
if view == 'product' then
  require_integer(arg_a, 'stock_quantity')
  require_integer(arg_b, 'low_stock_threshold')
elseif view == 'order' then
  require_integer(arg_a, 'created_at epoch ms')
end

local stored = redis.call('HGET', lsn_hash, field)
local stored_in_marker = false
if not stored then
  stored = redis.call('GET', marker_key)
  stored_in_marker = stored and true or false
end
if stored and not lsn_newer(lsn, stored) then return 'stale' end

local old = redis.call('GET', row_key)

if op == 'upsert' then
  -- Unchanged-TOAST columns: keep the cached value, else the one in 'before', else leave absent.
  local toast_n = tonumber(ARGV[14]) or 0
  for t = 0, toast_n - 1 do
    local name, fallback = ARGV[15 + 2 * t], nonempty(ARGV[16 + 2 * t])
    local raw = (old and json_member_raw(old, name)) or fallback
    if raw and not json_member_raw(row_json, name) then
      local member = cjson.encode(name) .. ':' .. raw
      if row_json == '{}' then row_json = '{' .. member .. '}'
      else row_json = row_json:sub(1, -2) .. ',' .. member .. '}' end
    end
  end
end

-- Phase 2: write the row, its LSN, and the derived views.
if op == 'upsert' then
  if row_ttl > 0 then redis.call('SET', row_key, row_json, 'EX', row_ttl)
  else redis.call('SET', row_key, row_json) end
  redis.call('HSET', lsn_hash, field, lsn)
  if stored_in_marker then redis.call('DEL', marker_key) end
else
  redis.call('DEL', row_key)
  redis.call('HDEL', lsn_hash, field)
  redis.call('SET', marker_key, lsn, 'EX', marker_ttl)
end

if view == 'order' then
  local by_created = prefix .. 'orders:by_created_at'
  local list = prefix .. 'recent_orders'
  local member = sortable(id)
  local old_customer = id_of(old and json_member_raw(old, 'customer_id')) or arg_c
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
  local old_order = id_of(old and json_member_raw(old, 'order_id')) or arg_c
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
