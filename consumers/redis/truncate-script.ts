import { LUA_HELPERS } from './lua-helpers.js';

/**
 * Applies a TRUNCATE of one table to the cache, atomically: every cached row of the table whose
 * row version is older than the truncate's goes (with its view entries), rows written by changes
 * after the truncate stay, and the table's truncate version is recorded in "cdc:truncated" so
 * that a late older event for ANY key of the table is refused (apply-change-script.ts checks it). That
 * matters because a truncate and the row changes around it may sit in different partitions.
 *
 * Cost: one pass over the table's entries in the version hash, inside one script: a truncate of a
 * table with a million cached rows blocks Redis for a moment. Truncates are rare admin actions.
 *
 * Calling convention (`numberOfKeys` = 2):
 *   KEYS[1] version hash    "cdc:version"
 *   KEYS[2] truncate hash   "cdc:truncated"
 *   ARGV[1] version   ARGV[2] prefix   ARGV[3] entity ("order")   ARGV[4] view   ARGV[5] recent_orders length
 * Returns the number of rows removed, or "stale" if a newer truncate was already applied.
 */
export const TRUNCATE_LUA = LUA_HELPERS + String.raw`
local version_hash, truncated_hash = KEYS[1], KEYS[2]
local version, prefix, entity, view, recent_n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

if not (version == '0' or version:match('^[1-9]%d*$')) then bad('version is not a decimal row version: ' .. version) end
if entity == '' or entity:find('[:*?%[%]\\]') then bad('bad entity name: ' .. entity) end

local previous = redis.call('HGET', truncated_hash, entity)
if previous and not version_newer(version, previous) then return 'stale' end
redis.call('HSET', truncated_hash, entity, version)

local removed = 0
local cursor = '0'
repeat
  local page = redis.call('HSCAN', version_hash, cursor, 'MATCH', entity .. ':*', 'COUNT', 1000)
  cursor = page[1]
  local entries = page[2]
  for i = 1, #entries, 2 do
    local field, row_version = entries[i], entries[i + 1]
    if version_newer(version, row_version) then
      local id = field:sub(#entity + 2)
      local row_key = prefix .. field
      local old = redis.call('GET', row_key)
      redis.call('DEL', row_key)
      redis.call('HDEL', version_hash, field)
      if view == 'order' then
        redis.call('ZREM', prefix .. 'orders:by_created_at', sortable(id))
        local customer = id_of(old and json_member_raw(old, 'customer_id'))
        if customer then redis.call('ZREM', prefix .. 'customer:' .. customer .. ':orders', id) end
      elseif view == 'product' then
        redis.call('DEL', prefix .. 'product:' .. id .. ':stock')
        redis.call('SREM', prefix .. 'low_stock_products', id)
      elseif view == 'order_item' then
        local order = id_of(old and json_member_raw(old, 'order_id'))
        if order then redis.call('SREM', prefix .. 'order:' .. order .. ':items', id) end
      end
      removed = removed + 1
    end
  end
until cursor == '0'

if view == 'order' then
  rebuild_recent(prefix .. 'recent_orders', prefix .. 'orders:by_created_at', recent_n)
end
return removed
`;
