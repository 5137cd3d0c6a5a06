/**
 * The fixed Lua text of every generated dissector (src/protocol/lua.ts puts the generated parts
 * between these two halves). Nothing from a protocol description is in here: the description's
 * names and values reach the dissector only through the generated tables, as escaped string
 * literals and numbers.
 *
 * VALUES is what generated decoders call: JavaScript's semantics for the description's
 * expressions (gamesniff compiles them to JavaScript), checks and errors, byte readers, strings.
 * A value is a Lua number, boolean, string (UTF-8, as gamesniff's strings), nil (JavaScript's
 * undefined), or a table tagged by its metatable: STRUCT, ARRAY ({ n = count, [1..n] }), BYTES
 * ({ raw = bytes }), I64 (a 64-bit field's value, { n = number }, exact below 2^53: gamesniff
 * holds a bigint) or ND (a value Lua could not decode, { why = reason }). Reading an ND value in
 * an expression ends the message with "not decoded in Lua: <why>"; so does anything whose result
 * Lua cannot be sure to compute as gamesniff does (a 64-bit result past 2^53, case-insensitive
 * search in non-ASCII text): never a wrong decode.
 *
 * DISSECTOR is the per-conversation machinery: framing through dissect_tcp_pdus, session state
 * per TCP stream (snapshots per message for later passes: state changes only in the first),
 * layers, dispatch, the message tree and errors.
 */

export const LUA_VALUES = String.raw`
-- ---- values and expressions (JavaScript semantics) ----------------------------------------------
local NaN = 0 / 0
local HUGE = math.huge
local TWO31, TWO32, TWO53 = 2147483648, 4294967296, 9007199254740992
local floor, ceil, fmod = math.floor, math.ceil, math.fmod
local sbyte, schar, sfind, sformat, ssub = string.byte, string.char, string.find, string.format, string.sub
local tconcat = table.concat
local MAXN, MAXDEPTH = 1000000, 512

-- bit operations on unsigned 32-bit numbers: bit32 (Lua 5.2), else the operators of Lua 5.3+
local B = rawget(_G, "bit32")
if B == nil then
  B = load([[
    local M, I = {}, math.tointeger
    function M.band(a, b) return (I(a) & I(b)) & 0xffffffff end
    function M.bor(a, b) return (I(a) | I(b)) & 0xffffffff end
    function M.bxor(a, b) return (I(a) ~ I(b)) & 0xffffffff end
    function M.lshift(a, n) return (I(a) << I(n)) & 0xffffffff end
    function M.arshift(a, n)
      a = I(a)
      if a >= 0x80000000 then a = a - 0x100000000 end
      return (a >> I(n)) & 0xffffffff
    end
    return M]])()
end

local STRUCT, ARRAY, BYTES, I64, ND = {}, {}, {}, {}, {}
local Failure = {}

local function is(v, mt) return type(v) == "table" and getmetatable(v) == mt end
local function throw(kind, msg, at, isshort) error(setmetatable({ kind = kind, msg = msg, at = at, short = isshort }, Failure), 0) end
local function raise_nd(why) throw("nd", why, nil) end
local function nd_value(why) return setmetatable({ why = why }, ND) end
local function chk(v) if is(v, ND) then raise_nd(v.why) end return v end
local function unwrap(v)
  if type(v) == "table" then
    local m = getmetatable(v)
    if m == I64 then return v.n end
    if m == ND then raise_nd(v.why) end
  end
  return v
end
local function i64(n)
  if n ~= n or n >= TWO53 or n <= -TWO53 then return nd_value("a 64-bit value past 2^53") end
  return setmetatable({ n = n }, I64)
end
local function i64_of(x) return i64(x:tonumber()) end
local function path_string(path)
  local out = {}
  for i = 1, #path do
    local part = path[i]
    if type(part) == "number" then out[#out + 1] = "[" .. sformat("%d", part) .. "]"
    elseif #out > 0 then out[#out + 1] = "." .. part
    else out[#out + 1] = part end
  end
  return tconcat(out)
end

local function fail(c, msg, at) throw("fail", msg, at) end
local function short(c, need, p, e)
  local left = e - p
  if left < 0 then left = 0 end
  throw("fail", sformat("needs %d byte%s, %d left", need, need == 1 and "" or "s", left), p, true)
end

local function truthy(v)
  v = unwrap(v)
  if v == nil or v == false then return false end
  local t = type(v)
  if t == "number" then return v == v and v ~= 0 end
  if t == "string" then return v ~= "" end
  return true
end

-- JavaScript's Number(v)
local function num(v)
  v = unwrap(v)
  local t = type(v)
  if t == "number" then return v end
  if t == "boolean" then return v and 1 or 0 end
  if t == "nil" then return NaN end
  if t == "string" then
    local s = v:match("^%s*(.-)%s*$")
    if s == "" then return 0 end
    if s:match("^[+-]?%d+%.?%d*$") or s:match("^[+-]?%.%d+$") or s:match("^[+-]?%d+%.?%d*[eE][+-]?%d+$") or s:match("^[+-]?%.%d+[eE][+-]?%d+$") then return tonumber(s) end
    if s:match("^0[xX]%x+$") then return tonumber(s:sub(3), 16) end
    if s:match("^0[bB][01]+$") then return tonumber(s:sub(3), 2) end
    if s:match("^0[oO][0-7]+$") then return tonumber(s:sub(3), 8) end
    if s == "Infinity" or s == "+Infinity" then return HUGE end
    if s == "-Infinity" then return -HUGE end
    return NaN
  end
  raise_nd("arithmetic on a list, struct or bytes value")
end

-- JavaScript's String(v)
local function jsstr(v)
  if is(v, I64) then return sformat("%.0f", v.n) end
  v = chk(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "nil" then return "undefined" end
  if t == "boolean" then return v and "true" or "false" end
  if t == "number" then
    if v ~= v then return "NaN" end
    if v == HUGE then return "Infinity" end
    if v == -HUGE then return "-Infinity" end
    if v == 0 then return "0" end
    if v == floor(v) and v < 1e21 and v > -1e21 then return sformat("%.0f", v) end
    for prec = 1, 17 do
      local s = sformat("%." .. prec .. "g", v)
      if tonumber(s) == v then
        if not s:find("e") then return s end
        break
      end
    end
    raise_nd("the text of a number in exponent form")
  end
  raise_nd("the text of a list, struct or bytes value")
end

local ADD, SUB, MUL, DIV, MOD, u32, BAND, BOR, BXOR, SHL, SHR, NEG, NOT, AND, OR, COND, EQ, NE, LT, LE, GT, GE
local function s32(u) if u >= TWO31 then return u - TWO32 end return u end
do
local function trunc(r)
  if r ~= r or r == HUGE or r == -HUGE then return r end
  if r >= 0 then return floor(r) end
  return ceil(r)
end

-- an operand of a bigint operation: its exact value, or nil (JavaScript then computes on numbers)
local function bigop(v)
  if is(v, I64) then return v.n end
  if type(v) == "number" and v == floor(v) and v > -TWO53 and v < TWO53 then return v end
  return nil
end
local function bigres(r)
  if r == r and r > -TWO53 and r < TWO53 then return r end
  return nd_value("a 64-bit result past 2^53")
end
local function anybig(a, b) return is(a, I64) or is(b, I64) end

function ADD(a, b)
  if anybig(a, b) then
    local x, y = bigop(a), bigop(b)
    if x and y then return bigres(x + y) end
    return num(a) + num(b)
  end
  a, b = chk(a), chk(b)
  if type(a) == "string" or type(b) == "string" then return jsstr(a) .. jsstr(b) end
  return num(a) + num(b)
end
function SUB(a, b)
  if anybig(a, b) then
    local x, y = bigop(a), bigop(b)
    if x and y then return bigres(x - y) end
  end
  return num(a) - num(b)
end
function MUL(a, b)
  if anybig(a, b) then
    local x, y = bigop(a), bigop(b)
    if x and y then return bigres(x * y) end
  end
  return num(a) * num(b)
end
function DIV(a, b)
  if anybig(a, b) then
    local x, y = bigop(a), bigop(b)
    if x and y then
      if y == 0 then return x / 0 end
      local r = fmod(x, y)
      return bigres((x - r) / y)
    end
  end
  return trunc(num(a) / num(b))
end
function MOD(a, b)
  local big = anybig(a, b)
  local x, y
  if big then x, y = bigop(a), bigop(b) end
  if not (x and y) then x, y = num(a), num(b) end
  if y == 0 or x ~= x or y ~= y or x == HUGE or x == -HUGE then return NaN end
  if y == HUGE or y == -HUGE then return x end
  return fmod(x, y)
end
function u32(v)
  local x = num(v)
  if x ~= x or x == HUGE or x == -HUGE then return 0 end
  return trunc(x) % TWO32
end
local function big_bitop(op, a, b)
  local x, y = bigop(a), bigop(b)
  if not (x and y) then return nil end
  local X, Y = Int64.new(x), Int64.new(y)
  local r
  if op == "&" then r = X:band(Y) elseif op == "|" then r = X:bor(Y) else r = X:bxor(Y) end
  return bigres(r:tonumber())
end
function BAND(a, b)
  if anybig(a, b) then local r = big_bitop("&", a, b); if r ~= nil then return r end end
  return s32(B.band(u32(a), u32(b)))
end
function BOR(a, b)
  if anybig(a, b) then local r = big_bitop("|", a, b); if r ~= nil then return r end end
  return s32(B.bor(u32(a), u32(b)))
end
function BXOR(a, b)
  if anybig(a, b) then local r = big_bitop("^", a, b); if r ~= nil then return r end end
  return s32(B.bxor(u32(a), u32(b)))
end
function SHL(a, b)
  if anybig(a, b) then
    local x, y = bigop(a), bigop(b)
    if x and y then
      if x == 0 then return 0 end
      if y < 0 then return bigres(floor(x / 2 ^ -y)) end
      if y > 60 then return nd_value("a 64-bit result past 2^53") end
      return bigres(x * 2 ^ y)
    end
  end
  return s32(B.lshift(u32(a), u32(b) % 32))
end
function SHR(a, b)
  if anybig(a, b) then
    local x, y = bigop(a), bigop(b)
    if x and y then
      if y < 0 then
        if x == 0 then return 0 end
        if -y > 60 then return nd_value("a 64-bit result past 2^53") end
        return bigres(x * 2 ^ -y)
      end
      if y > 60 then if x < 0 then return -1 end return 0 end
      return bigres(floor(x / 2 ^ y))
    end
  end
  return s32(B.arshift(u32(a), u32(b) % 32))
end
function NEG(a)
  if is(a, I64) then return bigres(-a.n) end
  return -num(a)
end
function NOT(a) return not truthy(a) end
function AND(a, fb) if truthy(a) then return fb() end return a end
function OR(a, fb) if truthy(a) then return a end return fb() end
function COND(x, fa, fb) if truthy(x) then return fa() end return fb() end

-- BigInt(v) for ==, or nil when it throws
local function bigint_of(v)
  if is(v, I64) then return v.n end
  v = chk(v)
  local t = type(v)
  if t == "number" then if v == floor(v) then return v end return nil end
  if t == "boolean" then return v and 1 or 0 end
  if t == "string" then
    local s = v:match("^%s*(.-)%s*$")
    if s == "" then return 0 end
    if s:match("^[+-]?%d+$") or s:match("^0[xX]%x+$") then
      local n = num(s)
      if n > -TWO53 and n < TWO53 then return n end
      raise_nd("a comparison with a number past 2^53")
    end
  end
  return nil
end
function EQ(a, b)
  if anybig(a, b) then
    local x, y = bigint_of(a), bigint_of(b)
    return x ~= nil and y ~= nil and x == y
  end
  return chk(a) == chk(b)
end
function NE(a, b) return not EQ(a, b) end
local function cmp(a, b)
  a, b = unwrap(a), unwrap(b)
  if type(a) == "string" and type(b) == "string" then return a, b end
  return num(a), num(b)
end
function LT(a, b) local x, y = cmp(a, b); return x < y end
function LE(a, b) local x, y = cmp(a, b); return x <= y end
function GT(a, b) local x, y = cmp(a, b); return x > y end
function GE(a, b) local x, y = cmp(a, b); return x >= y end

end

-- UTF-16 code units in a UTF-8 string (JavaScript's .length)
local function utf16len(s)
  local n = 0
  for i = 1, #s do
    local b = sbyte(s, i)
    if b < 0x80 or b >= 0xC0 then n = n + 1 end
    if b >= 0xF0 then n = n + 1 end
  end
  return n
end
local function latin1_utf8(s)
  if not sfind(s, "[\128-\255]") then return s end
  local out = {}
  for i = 1, #s do
    local b = sbyte(s, i)
    if b < 0x80 then out[i] = schar(b) else out[i] = schar(0xC0 + floor(b / 64), 0x80 + b % 64) end
  end
  return tconcat(out)
end

local function CONTAINS(a, b)
  chk(a); chk(b)
  if a == nil then return false end
  local hay
  if is(a, BYTES) then hay = latin1_utf8(a.raw) else hay = jsstr(a) end
  local needle = jsstr(b)
  if sfind(hay, "[\128-\255]") or sfind(needle, "[\128-\255]") then raise_nd("a case-insensitive search in non-ASCII text") end
  return sfind(hay:lower(), needle:lower(), 1, true) ~= nil
end
local function LEN(v)
  if is(v, I64) then return nil end
  v = chk(v)
  if type(v) == "string" then return utf16len(v) end
  if is(v, BYTES) then return #v.raw end
  if is(v, ARRAY) then return v.n end
  return nil
end
local function MEM(o, name)
  if is(o, STRUCT) then return rawget(o, name) end
  chk(o)
  return nil
end
local IDX
do
local function index_of(k)
  if type(k) == "string" then
    if k == "0" or k:match("^[1-9]%d*$") then return tonumber(k) end
    return nil
  end
  if type(k) == "number" and k >= 0 and k == floor(k) then return k end
  return nil
end
function IDX(o, k)
  chk(o)
  k = unwrap(k)
  if is(o, ARRAY) then
    if k == "length" then return o.n end
    local i = index_of(k)
    if i ~= nil and i < o.n then return o[i + 1] end
    return nil
  end
  if is(o, STRUCT) then
    if type(k) == "string" then return rawget(o, k) end
    return nil
  end
  if is(o, BYTES) then
    if k == "length" then return #o.raw end
    local i = index_of(k)
    if i ~= nil and i < #o.raw then return sbyte(o.raw, i + 1) end
    return nil
  end
  if type(o) == "string" then
    if k == "length" then return utf16len(o) end
    local i = index_of(k)
    if i == nil then return nil end
    if sfind(o, "[\128-\255]") then raise_nd("indexing non-ASCII text") end
    if i < #o then return ssub(o, i + 1, i + 1) end
  end
  return nil
end

end
-- a value as gamesniff's error messages show it
local function SHOW(v)
  if v == nil then return "nothing (missing field)" end
  if is(v, I64) then return sformat("%.0f", v.n) .. "n" end
  if is(v, BYTES) then return #v.raw .. " bytes" end
  if is(v, ND) then return "(not decoded in Lua)" end
  if type(v) == "string" then return "\"" .. v:gsub("[%c\"\\]", function(ch) return sformat("\\u%04x", sbyte(ch)) end) .. "\"" end
  if type(v) == "number" then
    if v ~= v or v == HUGE or v == -HUGE then return "null" end
    local ok, s = pcall(jsstr, v)
    if ok then return s end
    return tostring(v)
  end
  if type(v) == "boolean" then return tostring(v) end
  return "{...}"
end
local function hex(s) return (s:gsub(".", function(ch) return sformat("%02x", sbyte(ch)) end)) end

-- a size or count from an expression: a whole number (rt.size)
local function SIZE(v, c, p)
  local n = v
  if is(v, I64) then n = v.n end
  if type(n) == "number" and n == floor(n) and n >= 0 and n < TWO53 then return n end
  if is(v, ND) then raise_nd(v.why) end
  fail(c, "size expression gives " .. SHOW(v), p)
end

-- ---- reading bytes ------------------------------------------------------------------------------
-- a range, also an empty one at the end of the buffer
local function R(tvb, p, n) return tvb:range(p, n) end
local function rdu(tvb, p, n, le)
  local r = tvb:range(p, n)
  if le then return r:le_uint() end
  return r:uint()
end
local function rdi(tvb, p, n, le)
  local v = rdu(tvb, p, n, le)
  local lim = 2 ^ (8 * n - 1)
  if v >= lim then v = v - 2 * lim end
  return v
end
local function raw(tvb, p, n)
  if n == 0 then return "" end
  return tvb:raw(p, n)
end
local function varint(tvb, p, e, c)
  local v, mul, start = 0, 1, p
  while true do
    if p >= e then short(c, p - start + 1, start, e) end
    local b = rdu(tvb, p, 1)
    p = p + 1
    v = v + (b % 128) * mul
    if b < 128 then break end
    mul = mul * 128
    if mul > 2 ^ 49 then fail(c, "varint longer than 8 bytes", start) end
  end
  return v, p
end
local function zigzag(tvb, p, e, c)
  local u, q = varint(tvb, p, e, c)
  if u % 2 == 0 then return u / 2, q end
  return -(u + 1) / 2, q
end
local function varint32(tvb, p, e, c)
  local v, start, shift = 0, p, 0
  while true do
    if p >= e then short(c, p - start + 1, start, e) end
    if shift > 28 then fail(c, "varint32 longer than 5 bytes", start) end
    local b = rdu(tvb, p, 1)
    p = p + 1
    v = (v + (b % 128) * 2 ^ shift) % TWO32
    if b < 128 then break end
    shift = shift + 7
  end
  return s32(v), p
end
-- returns the Int64 and the position after it
local function varint64(tvb, p, e, c)
  local v, start, shift = UInt64.new(0), p, 0
  while true do
    if p >= e then short(c, p - start + 1, start, e) end
    if shift > 63 then fail(c, "varint64 longer than 10 bytes", start) end
    local b = rdu(tvb, p, 1)
    p = p + 1
    v = v:bor(UInt64.new(b % 128):lshift(shift))
    if b < 128 then break end
    shift = shift + 7
  end
  return Int64.new(v:lower(), v:higher()), p
end
-- a counter (length prefix, count, id) at p, or nil when the bytes run out (framing's readCounter)
local function read_counter(tvb, p, e, t)
  if t.k == "int" then
    if t.size == 8 or p + t.size > e then return nil end
    if t.signed then return rdi(tvb, p, t.size, t.le), p + t.size end
    return rdu(tvb, p, t.size, t.le), p + t.size
  end
  if t.width == 32 then
    local v = 0
    for i = 0, 4 do
      if p + i >= e then return nil end
      local b = rdu(tvb, p + i, 1)
      v = (v + (b % 128) * 2 ^ (7 * i)) % TWO32
      if b < 128 then return s32(v), p + i + 1 end
    end
    return nil
  end
  local v, mul = 0, 1
  for i = 0, 7 do
    if p + i >= e then return nil end
    local b = rdu(tvb, p + i, 1)
    v = v + (b % 128) * mul
    if b < 128 then
      if t.zigzag then if v % 2 == 1 then v = -(v + 1) / 2 else v = v / 2 end end
      return v, p + i + 1
    end
    mul = mul * 128
  end
  return nil
end
-- a counter as a length or count inside a message (the errors of compiled decoders)
local function counter(tvb, p, e, c, t)
  if t.k == "int" then
    if e - p < t.size then short(c, t.size, p, e) end
    if t.signed then return rdi(tvb, p, t.size, t.le), p + t.size end
    return rdu(tvb, p, t.size, t.le), p + t.size
  end
  if t.width == 32 then return varint32(tvb, p, e, c) end
  if t.zigzag then return zigzag(tvb, p, e, c) end
  return varint(tvb, p, e, c)
end

-- ---- strings ------------------------------------------------------------------------------------
local text
do
local REPL = "\239\191\189"
-- UTF-8 as a decoder that replaces what is not UTF-8 (as Node does: one U+FFFD a maximal subpart)
local function utf8_clean(s)
  if not sfind(s, "[\128-\255]") then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local b = sbyte(s, i)
    if b < 0x80 then
      local j = sfind(s, "[\128-\255]", i) or (n + 1)
      out[#out + 1] = ssub(s, i, j - 1)
      i = j
    else
      local need
      if b >= 0xC2 and b <= 0xDF then need = 1
      elseif b >= 0xE0 and b <= 0xEF then need = 2
      elseif b >= 0xF0 and b <= 0xF4 then need = 3 end
      if need == nil then
        out[#out + 1] = REPL
        i = i + 1
      else
        local lo, hi = 0x80, 0xBF
        if b == 0xE0 then lo = 0xA0 elseif b == 0xED then hi = 0x9F elseif b == 0xF0 then lo = 0x90 elseif b == 0xF4 then hi = 0x8F end
        local j, ok = i + 1, true
        for _ = 1, need do
          local ch = sbyte(s, j)
          if ch == nil or ch < lo or ch > hi then ok = false; break end
          lo, hi = 0x80, 0xBF
          j = j + 1
        end
        if ok then out[#out + 1] = ssub(s, i, j - 1) else out[#out + 1] = REPL end
        i = j
      end
    end
  end
  return tconcat(out)
end
local function utf8_of(cp)
  if cp < 0x80 then return schar(cp) end
  if cp < 0x800 then return schar(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then return schar(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64) end
  return schar(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64, 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end
local function utf16le_utf8(s)
  local out, i, n = {}, 1, #s - 1
  while i <= n do
    local u = sbyte(s, i) + 256 * sbyte(s, i + 1)
    i = i + 2
    if u >= 0xD800 and u <= 0xDBFF and i <= n then
      local l = sbyte(s, i) + 256 * sbyte(s, i + 1)
      if l >= 0xDC00 and l <= 0xDFFF then
        u = 0x10000 + (u - 0xD800) * 1024 + (l - 0xDC00)
        i = i + 2
      end
    end
    if u >= 0xD800 and u <= 0xDFFF then out[#out + 1] = REPL else out[#out + 1] = utf8_of(u) end
  end
  return tconcat(out)
end
function text(s, enc, padded)
  if enc == "latin1" then s = latin1_utf8(s)
  elseif enc == "utf16le" then s = utf16le_utf8(s)
  else s = utf8_clean(s) end
  if padded then
    local z = sfind(s, "\0", 1, true)
    if z then s = ssub(s, 1, z - 1) end
  end
  return s
end
end
local function bytes_value(s) return setmetatable({ raw = s }, BYTES) end
-- a string as an item shows it: Wireshark's strings end at a NUL, so a NUL shows as backslash-zero
local function shown(s)
  if sfind(s, "\0", 1, true) then return (s:gsub("\0", "\\0")) end
  return s
end
local function new_struct() return setmetatable({}, STRUCT) end
local function new_array() return setmetatable({ n = 0 }, ARRAY) end
local function with_when(t, when) t.when = when; return t end
local function push(a, v) a.n = a.n + 1; a[a.n] = v end
local function term(tvb, p, e, t, c, shown)
  local s = raw(tvb, p, e - p)
  local i = sfind(s, t, 1, true)
  if i == nil then fail(c, "no terminator " .. shown .. " before the end", p) end
  return p + i - 1
end

-- a tree that keeps nothing: decoding for the values alone (a frame header, an array's end)
local NT = {}
local function nt_fn() return NT end
NT.add, NT.add_le, NT.append_text, NT.set_text, NT.set_len, NT.add_proto_expert_info, NT.add_expert_info, NT.set_generated = nt_fn, nt_fn, nt_fn, nt_fn, nt_fn, nt_fn, nt_fn, nt_fn

-- ---- field transforms and compression -----------------------------------------------------------
local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do
    a = (a + sbyte(s, i)) % 65521
    b = (b + a) % 65521
  end
  return b * 65536 + a
end
-- zlib (RFC 1950) or raw deflate; Wireshark's uncompress also takes what gamesniff refuses (a zlib
-- stream cut short: what inflated so far; raw deflate for zlib), so zlib's header and checksum are checked here
local function inflate(range, c, p, algo)
  local n = range:len()
  if n == 0 then fail(c, algo .. ": unexpected end of file", p) end
  if algo == "zlib" then
    local cmf, flg = sbyte(range:raw(0, n >= 2 and 2 or 1), 1, 2)
    if flg == nil or cmf % 16 ~= 8 or (cmf * 256 + flg) % 31 ~= 0 or floor(flg / 32) % 2 == 1 then fail(c, "zlib: incorrect header check", p) end
  end
  local ok, out = pcall(function() return range:uncompress_zlib("Decompressed") end)
  if not ok then
    ok, out = pcall(function() return range:uncompress("Decompressed") end)
    if not ok then raise_nd("this Wireshark's Lua has no zlib (TvbRange:uncompress)") end
  end
  if out == nil then fail(c, algo .. ": the data does not inflate", p) end
  if algo == "zlib" then
    -- the stream ends with the checksum of what it holds (bytes after the stream are let be, as zlib does)
    local a = adler32(raw(out, 0, out:len()))
    local sum = schar(floor(a / 16777216), floor(a / 65536) % 256, floor(a / 256) % 256, a % 256)
    if not sfind(range:raw(), sum, 3, true) then fail(c, "zlib: unexpected end of file", p) end
  end
  return out
end
local unprocess
do
local function key_bytes(v, what, c, p)
  if is(v, BYTES) then return v.raw end
  if is(v, ARRAY) and v.n > 0 then
    local out = {}
    for i = 1, v.n do
      local x = unwrap(v[i])
      if type(x) ~= "number" or x ~= floor(x) or x < 0 or x > 255 then out = nil; break end
      out[i] = schar(x)
    end
    if out then return tconcat(out) end
  end
  chk(v)
  if type(v) == "string" then fail(c, what .. " must be bytes, found " .. SHOW(v), p) end
  fail(c, what .. " must be bytes, found " .. SHOW(v), p)
end
local function xor_tvb(range, key)
  local s, k, out = range:raw(), #key, {}
  for i = 1, #s do out[i] = schar(B.bxor(sbyte(s, i), sbyte(key, (i - 1) % k + 1))) end
  return ByteArray.new(tconcat(out), true):tvb("Unmasked")
end
-- a field's (or frame's) transforms undone in order: a new buffer, or raises
function unprocess(tvb, p, n, steps, c)
  local cur = tvb:range(p, n)
  local out = nil
  for _, st in ipairs(steps) do
    if st.name == "xor" then
      local key = key_bytes(st.key, "xor: key", c, p)
      if #key == 0 then fail(c, "xor: key must be at least 1 bytes, found 0", p) end
      if cur:len() == 0 then out = ByteArray.new(""):tvb("Unmasked") else out = xor_tvb(cur, key) end
    elseif st.name == "zlib" or st.name == "deflate" then
      out = inflate(cur, c, p, st.name)
    else
      raise_nd(st.name .. " (a field transform Lua cannot undo)")
    end
    cur = out:range(0, out:len())
  end
  return cur:tvb()
end
end
`;

export const LUA_DISSECTOR = String.raw`
local function install()
-- ---- dissection ---------------------------------------------------------------------------------
local CONVS, SNAP, MEMO, LOSTAT, CHOICE = {}, {}, {}, {}, {}
function proto.init()
  CONVS, SNAP, MEMO, LOSTAT, CHOICE = {}, {}, {}, {}, {}
end
local F_TCP_STREAM = Field.new("tcp.stream")
local F_UDP_STREAM = Field.new("udp.stream")
local DIRS = { "c2s", "s2c" }

local function copy_state(st)
  local t = {}
  for k, v in pairs(st) do t[k] = v end
  return setmetatable(t, getmetatable(st))
end
local UNKNOWN_STATE = { __index = function() raise_nd("the session state after a message Lua could not decode") end }
-- after a message Lua could not decode: the variables it may have set become unknown (setters: variable ->
-- the literals its setters write, or false for any value); one whose setters all write its current value stays
local function lose_state(cv, setters)
  if setters == nil or next(setters) == nil then return end
  local t, changed = {}, false
  for k, v in pairs(cv.st) do t[k] = v end
  for var, lits in pairs(setters) do
    local cur = rawget(t, var)
    if cur ~= nil then
      local keep = lits ~= false
      if keep then for _, l in ipairs(lits) do if l ~= cur then keep = false end end end
      if not keep then t[var] = nil; changed = true end
    end
  end
  if changed then cv.st = setmetatable(t, UNKNOWN_STATE) end
end
-- after a message (first pass): a stream transform switched on makes the rest of its direction undecodable
local function stream_check(T, cv)
  for _, d in ipairs(DIRS) do
    if not cv.lost[d] then
      for _, X in ipairs(T.stream) do
        if X.dirs[d] then
          local on = true
          if X.when then
            local ok, v = pcall(X.when, { st = cv.st })
            on = (not ok) or truthy(v)
          end
          if on then
            cv.lost[d] = { nd = true, why = X.why }
            lose_state(cv, SETTERS[d])
            break
          end
        end
      end
    end
  end
end
local function conv_of(pinfo, T)
  local f = (T.kind == "tcp" and F_TCP_STREAM or F_UDP_STREAM)()
  local key
  if f then
    key = T.kind .. tostring(f.value)
  else
    local a, b = tostring(pinfo.src) .. "/" .. pinfo.src_port, tostring(pinfo.dst) .. "/" .. pinfo.dst_port
    if a < b then key = T.kind .. a .. "-" .. b else key = T.kind .. b .. "-" .. a end
  end
  local cv = CONVS[key]
  if cv == nil then
    local sp, sa = pinfo.dst_port, tostring(pinfo.dst)
    if not T.portset[pinfo.dst_port] and (T.portset[pinfo.src_port] or pinfo.match_uint == pinfo.src_port) then
      sp, sa = pinfo.src_port, tostring(pinfo.src)
    end
    cv = { st = copy_state(INIT_STATE), port = sp, addr = sa, lost = {} }
    CONVS[key] = cv
    stream_check(T, cv)
  end
  return cv
end
local function dir_of(cv, pinfo)
  if pinfo.dst_port == cv.port and tostring(pinfo.dst) == cv.addr then return "c2s" end
  return "s2c"
end

local INFO = nil
local function info(pinfo, s)
  if INFO == nil then INFO = s else INFO = INFO .. ", " .. s end
  pinfo.cols.info:set(INFO)
end
local function not_decoded(mt, range, why)
  mt:add(HF_ND, range, why)
  mt:add_proto_expert_info(EX_ND, "not decoded in Lua: " .. why)
end
local function error_item(mt, range, msg)
  mt:add(HF_ERROR, range, msg)
  mt:add_proto_expert_info(EX_ERROR, msg)
end
local function report(err, mt, tvb, c, pinfo)
  local range = R(tvb, 0, tvb:len())
  if is(err, Failure) then
    if err.kind == "nd" then
      not_decoded(mt, range, err.msg)
      info(pinfo, "not decoded")
      return "nd"
    end
    local path = path_string(c.path)
    if path == "" then path = "frame" end
    error_item(mt, range, "error at " .. path .. " +" .. sformat("%d", err.at or 0) .. ": " .. err.msg)
    if tvb:len() > 0 then mt:add(HF_RAW, range) end
    info(pinfo, "error")
    return "error"
  end
  not_decoded(mt, range, "Lua error: " .. tostring(err))
  info(pinfo, "not decoded")
  return "nd"
end
local function new_ctx(st, first)
  return { st = st, hd = nil, fr = nil, path = {}, n = 0, depth = 0, first = first }
end

-- the state a message is decoded in: the conversation's (first pass, kept for later passes), or the kept copy
local function state_at(pinfo, cv, key)
  if not pinfo.visited then
    SNAP[key] = copy_state(cv.st)
    return cv.st, true
  end
  local s = SNAP[key]
  if s == nil then return nil end
  return copy_state(s), false
end

-- a message from its frame body (after the frame transforms)
local function decode_message(T, body, pinfo, mt, c, dir)
  local p, e = 0, body:len()
  if T.head then
    c.path = { "head" }
    local ht = mt:add(R(body, 0, 0), "head")
    local hd
    p, hd = T.head(body, ht, c, 0, e)
    ht:set_len(p)
    c.hd = hd
  end
  c.path = {}
  local id
  if T.id then
    local v, nx = read_counter(body, p, e, T.id)
    if v == nil then fail(c, "message id cut short", p) end
    mt:add(HF_ID, R(body, p, nx - p), Int64.new(v))
    id, p = v, nx
  elseif T.idx then
    local x = T.idx(c)
    local v = unwrap(x)
    if is(x, I64) or type(v) ~= "number" or v ~= floor(v) then fail(c, "the id expression gives " .. jsstr(x), 0) end
    mt:add(HF_ID, R(body, 0, 0), Int64.new(v)):set_generated()
    id = v
  end
  local list = T.by[dir][id or -1]
  local ref = nil
  if list then
    for _, r in ipairs(list) do
      if r.when == nil or truthy(r.when(c)) then ref = r; break end
    end
  end
  if ref == nil then
    if id == nil then fail(c, "no " .. dir .. " message applies in this state", 0) end
    local h = id < 0 and ("-0x" .. sformat("%x", -id)) or ("0x" .. sformat("%x", id))
    fail(c, "unknown " .. dir .. " id " .. sformat("%d", id) .. " (" .. h .. ")", 0)
  end
  mt:add(HF_NAME, R(body, 0, e), ref.name)
  mt:append_text(": " .. ref.label)
  info(pinfo, ref.label)
  c.path = { ref.name }
  c.msg = ref
  local q = ref.decode(body, mt, c, p, e)
  if q < e then mt:add(HF_TRAILING, R(body, q, e - q), e - q) end
end

-- a frame body through a frame transform
local function frame_transform(X, body, mt, c)
  if X.nd then raise_nd(X.nd) end
  if X.name == "compression" then
    local at, expected = 0, -1
    if X.len then
      local v, nx = read_counter(body, 0, body:len(), X.len)
      if v == nil then fail(c, "compression header cut short", 0) end
      mt:add(HF_ULEN, R(body, 0, nx), Int64.new(v))
      at, expected = nx, v
      if expected == 0 then return R(body, at, body:len() - at):tvb() end
      if expected < 0 then fail(c, "the header says " .. sformat("%d", expected) .. " bytes uncompressed", 0) end
    end
    local out = inflate(R(body, at, body:len() - at), c, at, X.algo)
    if expected >= 0 and out:len() ~= expected then
      fail(c, "decompressed to " .. out:len() .. " bytes, header says " .. sformat("%d", expected), 0)
    end
    mt:add(HF_COMPRESSED, R(body, 0, body:len()), true):set_generated()
    return out
  end
  local steps = { { name = X.name } }
  if X.key then
    if X.key.x then steps[1].key = X.key.x(c) else steps[1].key = bytes_value(X.key.lit) end
  end
  local out = unprocess(body, 0, body:len(), steps, c)
  if X.name == "zlib" or X.name == "deflate" then mt:add(HF_COMPRESSED, R(body, 0, body:len()), true):set_generated() end
  return out
end

-- one frame (header, delimiter or length prefix included) of a conversation: its message
local function frame_message(T, F, ftvb, pinfo, mt, cv, dir, key, delim)
  local st, first = state_at(pinfo, cv, key)
  if st == nil then
    not_decoded(mt, R(ftvb, 0, ftvb:len()), "the session state here is unknown (the frame was not dissected in order)")
    return
  end
  local c = new_ctx(st, first)
  local body = ftvb
  local ok, err = pcall(function()
    if F.k == "length" then
      local v, nx = read_counter(ftvb, F.offset, ftvb:len(), F.t)
      mt:add(HF_LENGTH, R(ftvb, F.offset, nx - F.offset), Int64.new(v))
      if F.offset == 0 then body = R(ftvb, nx, ftvb:len() - nx):tvb() end
    elseif F.k == "header" then
      local hc = new_ctx({}, false)
      hc.path = { "frame" }
      c.path = hc.path
      local ht = mt:add(R(ftvb, 0, 0), "frame")
      local hp, fr = F.decode(ftvb, ht, hc, 0, ftvb:len())
      ht:set_len(hp)
      c.fr = fr
      c.path = {}
      if F.strip then body = R(ftvb, hp, ftvb:len() - hp):tvb() end
    elseif delim then
      local n = ftvb:len() - delim
      mt:add(R(ftvb, n, delim), "delimiter")
      body = R(ftvb, 0, n):tvb()
    end
    for _, X in ipairs(T.frame) do
      if X.dirs[dir] and (X.when == nil or truthy(X.when(c))) then
        c.path = {}
        body = frame_transform(X, body, mt, c)
      end
    end
    if T.inner then raise_nd(T.inner) end
    decode_message(T, body, pinfo, mt, c, dir)
  end)
  if not ok then
    local what = report(err, mt, body, c, pinfo)
    -- a message Lua could not decode may have changed the state gamesniff follows
    if first and what == "nd" then lose_state(cv, c.msg and c.msg.setters or SETTERS[dir]) end
  end
  if first then stream_check(T, cv) end
end

local function lost_item(mt, tvb, lost, pinfo)
  local range = R(tvb, 0, tvb:len())
  if lost.nd then not_decoded(mt, range, lost.why .. " (from here on, this direction)"); info(pinfo, "not decoded")
  else error_item(mt, range, lost.why); info(pinfo, "raw") end
  if tvb:len() > 0 then mt:add(HF_RAW, range) end
end

-- where a frame ends: its size (>0), 0 (more bytes needed) or -1 (implausible: the rest is unframed)
local function frame_size(F, tvb, off, cv)
  local avail = tvb:len()
  if F.k == "length" then
    local v, nx = read_counter(tvb, off + F.offset, avail, F.t)
    if v == nil then
      if avail - off - F.offset >= 8 then return -1, "implausible frame length" end
      return 0
    end
    local field = nx - off
    local total
    if F.includes then total = v + F.adjust else total = field + v + F.adjust end
    if total < field or total - field > F.max then return -1, "implausible frame length" end
    return total
  elseif F.k == "fixed" then
    return F.size
  elseif F.k == "header" then
    local hc = new_ctx({}, false)
    local ok, hp, fr = pcall(F.decode, tvb, NT, hc, off, avail)
    if not ok then
      if is(hp, Failure) and hp.short and avail - off < 4096 then return 0 end
      if is(hp, Failure) and hp.kind == "nd" then return -1, "a frame header Lua cannot decode: " .. hp.msg end
      return -1, "a frame header that does not decode"
    end
    hc.fr = fr
    local ok2, n = pcall(F.len, hc)
    n = ok2 and unwrap(n) or nil
    if type(n) ~= "number" or n ~= floor(n) or n < 0 then return -1, "a frame header that does not decode" end
    if n > F.max then return -1, "a frame over the size limit" end
    return hp - off + n
  elseif F.k == "delimiter" then
    local s = raw(tvb, off, avail - off)
    local i = sfind(s, F.bytes, 1, true)
    if i == nil then
      if #s > F.max + #F.bytes then return -1, "no delimiter within the size limit" end
      return 0
    end
    if i - 1 > F.max then return -1, "no delimiter within the size limit" end
    return i - 1 + #F.bytes
  end
  return avail - off
end

local function pdu_key(pinfo, tvb, off) return pinfo.number .. ":" .. (tvb:offset() + off) end

-- dissect_tcp_pdus's get_len: the frame's size (remembered for later passes)
local function tcp_len(tvb, pinfo, off)
  local key = pdu_key(pinfo, tvb, off)
  if pinfo.visited then
    local m = MEMO[key]
    if m then return m end
  end
  local cv = conv_of(pinfo, TCP)
  local dir = dir_of(cv, pinfo)
  local n, why
  local F = TCP.framing
  if TCP.choices and not cv.lost[dir] then
    -- framing chosen by the state: the first choice whose condition holds (kept for later passes)
    local ci = CHOICE[key]
    if ci == nil or not pinfo.visited then
      ci = nil
      for i, ch in ipairs(TCP.choices) do
        if ch.when == nil then ci = i; break end
        local ok, v = pcall(ch.when, { st = cv.st })
        if not ok then
          if not pinfo.visited then cv.lost[dir] = { nd = true, why = "framing chosen by a state Lua does not know here" } end
          break
        end
        if truthy(v) then ci = i; break end
      end
      if not pinfo.visited then CHOICE[key] = ci end
    end
    if ci then F = TCP.choices[ci] end
  end
  if cv.lost[dir] then
    n = tvb:len() - off
    if not pinfo.visited then LOSTAT[key] = cv.lost[dir] end
  else
    n, why = frame_size(F, tvb, off, cv)
    if n < 0 then
      n = tvb:len() - off
      if not pinfo.visited then
        cv.lost[dir] = { why = "unframed after an " .. (why or "implausible frame length") }
        LOSTAT[key] = cv.lost[dir]
        lose_state(cv, SETTERS[dir])
      end
    elseif n == 0 and pinfo.can_desegment == 0 then
      n = tvb:len() - off
      if not pinfo.visited then LOSTAT[key] = { why = "a frame cut short (TCP reassembly is off)" } end
    end
  end
  if n > 0 and not pinfo.visited then MEMO[key] = n end
  return n
end

local function tcp_pdu(tvb, pinfo, tree)
  local key = pdu_key(pinfo, tvb, 0)
  local mt = tree:add(proto, R(tvb, 0, tvb:len()))
  local cv = conv_of(pinfo, TCP)
  local dir = dir_of(cv, pinfo)
  mt:add(HF_DIR, R(tvb, 0, 0), dir):set_generated()
  local lost = LOSTAT[key]
  if lost then lost_item(mt, tvb, lost, pinfo); return end
  frame_message(TCP, TCP.framing, tvb, pinfo, mt, cv, dir, key, nil)
end

-- framings dissect_tcp_pdus cannot cut (a delimiter): asking TCP for more bytes ourselves
local function tcp_loop(tvb, pinfo, tree)
  local off, total = 0, tvb:len()
  while off < total do
    local n = tcp_len(tvb, pinfo, off)
    if n == 0 then
      pinfo.desegment_offset = off
      pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
      return total
    end
    if off + n > total then
      pinfo.desegment_offset = off
      pinfo.desegment_len = off + n - total
      return total
    end
    local ftvb = R(tvb, off, n):tvb()
    local key = pdu_key(pinfo, tvb, off)
    local mt = tree:add(proto, R(ftvb, 0, n))
    local cv = conv_of(pinfo, TCP)
    local dir = dir_of(cv, pinfo)
    mt:add(HF_DIR, R(ftvb, 0, 0), dir):set_generated()
    local lost = LOSTAT[key]
    local F = TCP.framing
    if TCP.choices then F = TCP.choices[CHOICE[key] or 0] or F end
    if lost then lost_item(mt, ftvb, lost, pinfo)
    else frame_message(TCP, F, ftvb, pinfo, mt, cv, dir, key, F.k == "delimiter" and #F.bytes or nil) end
    off = off + n
  end
  return total
end

local function dissect_tcp(tvb, pinfo, tree)
  local T = TCP
  if T.nd then
    local mt = tree:add(proto, R(tvb, 0, tvb:len()))
    not_decoded(mt, R(tvb, 0, tvb:len()), T.nd)
    info(pinfo, "not decoded")
    return tvb:len()
  end
  local F = T.framing
  if T.choices then return tcp_loop(tvb, pinfo, tree) end
  if F.k == "length" or F.k == "fixed" or F.k == "header" then
    dissect_tcp_pdus(tvb, tree, F.min, tcp_len, tcp_pdu)
    return tvb:len()
  end
  if F.k == "delimiter" then return tcp_loop(tvb, pinfo, tree) end
  -- chunk: what each segment carries is one message
  local key = pdu_key(pinfo, tvb, 0)
  local mt = tree:add(proto, R(tvb, 0, tvb:len()))
  local cv = conv_of(pinfo, T)
  local dir = dir_of(cv, pinfo)
  mt:add(HF_DIR, R(tvb, 0, 0), dir):set_generated()
  if not pinfo.visited and cv.lost[dir] then LOSTAT[key] = cv.lost[dir] end
  local lost = LOSTAT[key]
  if lost then lost_item(mt, tvb, lost, pinfo); return tvb:len() end
  frame_message(T, F, tvb, pinfo, mt, cv, dir, key, nil)
  return tvb:len()
end

local function dissect_udp(tvb, pinfo, tree)
  local T = UDP
  local mt = tree:add(proto, R(tvb, 0, tvb:len()))
  if T.nd then
    not_decoded(mt, R(tvb, 0, tvb:len()), T.nd)
    info(pinfo, "not decoded")
    return tvb:len()
  end
  local cv = conv_of(pinfo, T)
  local dir = dir_of(cv, pinfo)
  mt:add(HF_DIR, R(tvb, 0, 0), dir):set_generated()
  frame_message(T, T.framing, tvb, pinfo, mt, cv, dir, pdu_key(pinfo, tvb, 0), nil)
  return tvb:len()
end

function proto.dissector(tvb, pinfo, tree)
  INFO = nil
  pinfo.cols.protocol:set(PROTO_NAME)
  if pinfo.port_type == 3 then
    if UDP == nil then return 0 end
    return dissect_udp(tvb, pinfo, tree)
  end
  if TCP == nil then return 0 end
  return dissect_tcp(tvb, pinfo, tree)
end

-- the protocol's ports, and Decode As for any other
if TCP then
  local t = DissectorTable.get("tcp.port")
  for _, port in ipairs(TCP.ports) do t:add(port, proto) end
  pcall(function() t:add_for_decode_as(proto) end)
end
if UDP then
  local t = DissectorTable.get("udp.port")
  for _, port in ipairs(UDP.ports) do t:add(port, proto) end
  pcall(function() t:add_for_decode_as(proto) end)
end
end
install()
`;
