/**
 * Lua shared by the cache's scripts (apply-change-script.ts, truncate-script.ts): exact row-version
 * comparison, raw JSON member extraction, and the recent_orders maintenance. Prepended to each
 * script's body, so every script is one self-contained chunk for SCRIPT LOAD.
 */
export const LUA_HELPERS = String.raw`
local RECENT_PAD = 20

-- Refuses the event: an error reply starting with BADEVENT, which the sink maps to 'failed'.
local function bad(message) error({ err = 'BADEVENT ' .. message }) end

-- Refuses the event when 'key' exists with another type than 'expected' (as Redis would with
-- WRONGTYPE, but before anything of the event is written: Redis rolls a script back never).
local function require_type(key, expected)
  local found = redis.call('TYPE', key)['ok']
  if found ~= 'none' and found ~= expected then
    error({ err = 'WRONGTYPE ' .. key .. ' holds a ' .. found .. ', the cache keeps a ' .. expected .. ' there (nothing of this change was written)' })
  end
end

-- Row versions (LSNs, or 2^64 + LSN) are decimal strings without leading zeros: the longer one
-- is bigger, equal lengths compare as strings. Never tonumber(): doubles lose exactness beyond 2^53.
local function version_newer(a, b)
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
`;
