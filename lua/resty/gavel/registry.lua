-- resty/gavel/registry.lua -- the rulesets of a rules directory, per
-- worker: load every *.json ruleset file, reload changed ones, unload
-- removed ones.  Loading happens in init_worker and timers (off the
-- request path); a request takes one entry and keeps it (a local) for its
-- whole run, so a swap never changes a ruleset under a running request,
-- and a superseded ruleset is freed by the GC once no request holds it.
--
-- Per-worker state (upvalues, never shared between workers):
--   'by_name'  ruleset name -> entry { rs, name, version, hash, file, tag }
--   'by_file'  file name    -> { hash, name } of its last successful load
--   'failed'   file name    -> { hash, reason } of a content that failed to
--                              load, or of a file that could not be read
--                              (hash: "!" .. the reason), so a broken file
--                              is reported once, not every tick
--   'conflict' file name    -> { hash, name, owner }: a file that loads but
--                              claims a name another file serves.  Not a
--                              failure of the content: retried on every
--                              scan once the owner no longer serves the
--                              name (renamed, removed, renamed its ruleset)
--   'cfg'      the init{} options (rules_dirs, allow_http, capabilities)
-- Files (keyed by their path) read: <each rules dir>/*.json except
-- *.input.json and *.expected.json (the examples' fixtures).  The name
-- served is the document's config.name; the version its config.version
-- (or "0").  Two files claiming one name: the one serving it keeps it (at
-- start: the first in sorted order), the other is logged once and takes
-- the name over when the first one stops serving it.

local ffi = require "ffi"
local gavel = require "gavel"

local ngx = ngx
local ngx_log, ngx_md5 = ngx.log, ngx.md5
local ERR, WARN, NOTICE = ngx.ERR, ngx.WARN, ngx.NOTICE
local io_open = io.open
-- 'each' is next: loops 'for k in each, t' are not ITERN loops (LuaJIT
-- #1510 drops an element; lua/README.md, "LuaJIT's ITERN loops")
local each, ipairs, type, tostring = next, ipairs, type, tostring
local sort = table.sort
local sub = string.sub

local _M = { _VERSION = "0.1.0" }

local by_name, by_file, failed, conflict = {}, {}, {}, {}
local cfg = nil
local loads, reloads = 0, 0

-- ==== Listing a directory (readdir over the FFI: no shell, no fork) ====

if not pcall(ffi.typeof, "struct gavel_resty_dirent") then
  -- glibc's struct dirent on 64-bit Linux
  ffi.cdef [[
struct gavel_resty_dirent {
  uint64_t d_ino; int64_t d_off; uint16_t d_reclen; uint8_t d_type;
  char d_name[256];
};
void *opendir(const char *name);
struct gavel_resty_dirent *readdir(void *dirp);
int closedir(void *dirp);
]]
end
pcall(ffi.cdef, "char *strerror(int errnum);")
local C = ffi.C

local function is_rules_file(n)
  return sub(n, -5) == ".json" and sub(n, -11) ~= ".input.json"
         and sub(n, -14) ~= ".expected.json" and sub(n, 1, 1) ~= "."
end

-- Directory entries that are not files (d_type): refused without being
-- opened (opening a FIFO would block the worker)
local NOT_FILE = { [1] = "a FIFO", [2] = "a character device",
                   [4] = "a directory", [6] = "a block device",
                   [12] = "a socket" }

-- list(dir) -> sorted file names, { name -> why it is not a file } | nil,
-- err
local function list(dir)
  local d = C.opendir(dir)
  if d == nil then
    return nil, "cannot open rules directory " .. dir .. ": "
                .. ffi.string(C.strerror(ffi.errno()))
  end
  local out, odd = {}, {}
  while true do
    local e = C.readdir(d)
    if e == nil then break end
    local n = ffi.string(e.d_name)
    if is_rules_file(n) then
      out[#out + 1] = n
      local t = NOT_FILE[e.d_type]
      if t then odd[n] = "not a regular file (" .. t .. ")" end
    end
  end
  C.closedir(d)
  sort(out)
  return out, odd
end

-- read_file(path) -> text | nil, reason (the system's, without the path)
local function read_file(path)
  local f, err = io_open(path, "rb")
  if not f then
    err = tostring(err)
    if sub(err, 1, #path + 2) == path .. ": " then
      err = sub(err, #path + 3)
    end
    return nil, err
  end
  local s, rerr = f:read("*a")
  f:close()
  if not s then return nil, tostring(rerr or "read failed") end
  return s
end

-- The document's config.version as text ("0" when absent).
local function doc_version(text)
  local doc = gavel.json.decode(text)
  local c = type(doc) == "table" and doc.config
  local v = type(c) == "table" and c.version
  if type(v) == "string" or type(v) == "number" then return tostring(v) end
  return "0"
end

-- ==== Loading ====

-- Loads one file's text; on failure logs every diagnostic (as 'gavel
-- check' prints them: "<file>: <level>: <message>") and returns nil, the
-- reason (for failures()).
local function load_text(file, text, hash)
  local rs, err, code, diags = gavel.load(text, {
    allow_http = cfg.allow_http, capabilities = cfg.capabilities,
  })
  local path = file
  if not rs then
    local n = 0
    for _, d in ipairs(type(diags) == "table" and diags or {}) do
      if d.level ~= "warning" then n = n + 1 end
      ngx_log(d.level == "warning" and WARN or ERR, "gavel: ", path, ": ",
              d.level or "error", ": ", d.message)
    end
    if n == 0 then ngx_log(ERR, "gavel: ", path, ": error: ", err) end
    ngx_log(ERR, "gavel: ", path, " not loaded (", code, ", ", n,
            " error(s)); ",
            by_file[file] and "the previous version keeps serving"
                          or "nothing served from it")
    return nil, "not loaded (" .. tostring(code) .. ", " .. n
                .. " error(s))"
  end
  for _, w in ipairs(rs.warnings or {}) do
    ngx_log(WARN, "gavel: ", path, ": warning: ", w)
  end
  local version = doc_version(text)
  local name = rs:name()
  local capture = require "resty.gavel.capture"
  return {
    rs = rs, name = name, version = version, hash = hash, file = file,
    tag = name .. "@" .. version, short = sub(hash, 1, 12),
    -- the decision records' content hash ('gavel replay --verify')
    capture_hash = capture.hash(text), -- (capture may start later)
  }
end

-- The file serving ruleset 'name', when it is not 'file' | nil
local function holder(name, file)
  local cur = by_name[name]
  if cur and cur.file ~= file and by_file[cur.file] then return cur.file end
  return nil
end

-- consider(file, text, hash) -> 1 when it serves the file's ruleset now
-- (new or replaced), else 0: a load failure is remembered in 'failed', a
-- name another file serves in 'conflict' (logged once per content and
-- owner)
local function consider(file, text, hash)
  local ent, why = load_text(file, text, hash)
  if not ent then
    failed[file], conflict[file] = { hash = hash, reason = why }, nil
    return 0
  end
  failed[file] = nil
  local owner = holder(ent.name, file)
  if owner then
    local c = conflict[file]
    if not (c and c.hash == hash and c.owner == owner) then
      ngx_log(ERR, "gavel: ", file, ": ruleset '", ent.name,
              "' is already served from ", owner, "; not loaded",
              by_file[file] and " (the previous version keeps serving)"
                            or "")
    end
    conflict[file] = { hash = hash, name = ent.name, owner = owner }
    return 0
  end
  conflict[file] = nil
  local old = by_file[file]
  if old and old.name ~= ent.name and by_name[old.name]
      and by_name[old.name].file == file then
    by_name[old.name] = nil
  end
  by_name[ent.name] = ent
  by_file[file] = { hash = hash, name = ent.name }
  if old then reloads = reloads + 1 else loads = loads + 1 end
  ngx_log(NOTICE, "gavel: serving ", ent.tag, " (", ent.short, ") from ",
          file)
  return 1
end

-- scan() -> number of rulesets changed (loaded, replaced or removed)
-- Reads every rules file, unloads the removed ones, then loads the new and
-- changed ones (in that order: a file renamed, or replaced by a file of
-- another name, in one deploy hands its ruleset to the new file in this
-- scan).  Blocking file I/O: init_worker, timers, admin requests.
function _M.scan()
  if not cfg then return nil, "resty.gavel: init{} was not called" end
  local files, odd = {}, {}
  for _, dir in ipairs(cfg.rules_dirs) do
    local names, why = list(dir)
    if not names then
      -- an unreadable directory unloads nothing: keep serving
      ngx_log(ERR, "gavel: ", why)
      return nil, why
    end
    for _, n in ipairs(names) do
      local file = dir .. "/" .. n
      files[#files + 1] = file
      odd[file] = why[n]
    end
  end
  local seen, texts, hashes, changed = {}, {}, {}, 0
  for _, file in ipairs(files) do
    seen[file] = true
    local text, why = nil, odd[file]
    if not why then text, why = read_file(file) end
    if text then
      texts[file], hashes[file] = text, ngx_md5(text)
    else
      -- logged once per reason; the previous version (if any) serves on
      local mark, f = "!" .. why, failed[file]
      if not (f and f.hash == mark) then
        ngx_log(ERR, "gavel: ", file, ": cannot read: ", why, "; ",
                by_file[file] and "the previous version keeps serving"
                              or "nothing served from it")
      end
      failed[file] = { hash = mark, reason = "cannot read: " .. why }
      conflict[file] = nil
    end
  end
  for file, f in each, by_file do
    if not seen[file] then
      by_file[file] = nil
      local cur = by_name[f.name]
      if cur and cur.file == file then
        by_name[f.name] = nil
        changed = changed + 1
        ngx_log(WARN, "gavel: ", file, " removed; ruleset '", f.name,
                "' unloaded")
      end
    end
  end
  for file in each, failed do
    if not seen[file] then failed[file] = nil end
  end
  for file in each, conflict do
    if not seen[file] then conflict[file] = nil end
  end
  for _, file in ipairs(files) do
    local text, hash = texts[file], hashes[file]
    if text then
      local old, f, c = by_file[file], failed[file], conflict[file]
      if old and old.hash == hash then
        failed[file], conflict[file] = nil, nil   -- back to what serves
      elseif f and f.hash == hash then
        -- the same broken content: reported already
      elseif c and c.hash == hash and holder(c.name, file) == c.owner then
        -- the same name conflict: reported already
      else
        changed = changed + consider(file, text, hash)
      end
    end
  end
  -- a name freed later in this scan (its file now serves another name)
  -- goes to a file that waited for it, in sorted order
  local again = true
  while again do
    again = false
    for _, file in ipairs(files) do
      local c = conflict[file]
      if c and c.hash == hashes[file] and not holder(c.name, file) then
        local k = consider(file, texts[file], c.hash)
        if k > 0 then changed, again = changed + k, true end
      end
    end
  end
  -- The GC does not see the C memory of a ruleset: collect the superseded
  -- ones now (reloads are rare, and this runs off the request path).
  if changed > 0 then collectgarbage() end
  return changed
end

-- get(name) -> entry | nil
function _M.get(name)
  return by_name[name]
end

-- names() -> sorted list of the served ruleset tags ("name@version")
function _M.names()
  local out = {}
  for _, e in each, by_name do out[#out + 1] = e end
  sort(out, function(a, b) return a.name < b.name end)
  for i, e in ipairs(out) do
    out[i] = { name = e.name, version = e.version, hash = e.short }
  end
  return out
end

-- stats() -> loads, reloads (this worker)
function _M.stats()
  return loads, reloads
end

-- failures() -> the rules files that serve nothing of their current
-- content (this worker), sorted by file: { file, reason } with reason
-- "not loaded (GAVEL_..., n error(s))", "cannot read: <why>" or "ruleset
-- '<name>' is already served from <file>"
function _M.failures()
  local out = {}
  for file, f in each, failed do
    out[#out + 1] = { file = file, reason = f.reason }
  end
  for file, c in each, conflict do
    out[#out + 1] = { file = file, reason = "ruleset '" .. c.name
                      .. "' is already served from " .. c.owner }
  end
  sort(out, function(a, b) return a.file < b.file end)
  return out
end

-- configure(opts): the init{} options this registry reads.
function _M.configure(opts)
  cfg = opts
end

_M.list = list

return _M
