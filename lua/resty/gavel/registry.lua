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
--   'failed'   file name    -> hash of a content that failed to load (so a
--                              broken file is reported once, not every tick)
--   'cfg'      the init{} options (rules_dirs, allow_http, capabilities)
-- Files (keyed by their path) read: <each rules dir>/*.json except *.input.json and *.expected.json
-- (the examples' fixtures).  The name served is the document's
-- config.name; the version its config.version (or "0").

local ffi = require "ffi"
local gavel = require "gavel"

local ngx = ngx
local ngx_log, ngx_md5 = ngx.log, ngx.md5
local ERR, WARN, NOTICE = ngx.ERR, ngx.WARN, ngx.NOTICE
local io_open = io.open
local pairs, ipairs, type, tostring = pairs, ipairs, type, tostring
local sort = table.sort
local sub = string.sub

local _M = { _VERSION = "0.1.0" }

local by_name, by_file, failed = {}, {}, {}
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

-- list(dir) -> sorted file names | nil, err
local function list(dir)
  local d = C.opendir(dir)
  if d == nil then
    return nil, "cannot open rules directory " .. dir .. ": "
                .. ffi.string(C.strerror(ffi.errno()))
  end
  local out = {}
  while true do
    local e = C.readdir(d)
    if e == nil then break end
    local n = ffi.string(e.d_name)
    if is_rules_file(n) then out[#out + 1] = n end
  end
  C.closedir(d)
  sort(out)
  return out
end

local function read_file(path)
  local f, err = io_open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  if not s then return nil, "cannot read " .. path end
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
-- check' prints them: "<file>: <level>: <message>") and returns nil.
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
    return nil
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
    capture_hash = capture.enabled() and capture.hash(text) or nil,
  }
end

-- scan() -> number of rulesets changed (loaded, replaced or removed)
-- Reads every rules file, loads the new and changed ones, unloads the
-- removed ones.  Blocking file I/O: init_worker, timers, admin requests.
function _M.scan()
  if not cfg then return nil, "resty.gavel: init{} was not called" end
  local files = {}
  for _, dir in ipairs(cfg.rules_dirs) do
    local names, err = list(dir)
    if not names then
      -- an unreadable directory unloads nothing: keep serving
      ngx_log(ERR, "gavel: ", err)
      return nil, err
    end
    for _, n in ipairs(names) do files[#files + 1] = dir .. "/" .. n end
  end
  local seen, changed = {}, 0
  for _, file in ipairs(files) do
    seen[file] = true
    local text = read_file(file)
    local hash = text and ngx_md5(text)
    local old = by_file[file]
    if text and (not old or old.hash ~= hash) and failed[file] ~= hash then
      local ent = load_text(file, text, hash)
      if not ent then
        failed[file] = hash
      else
        failed[file] = nil
        local cur = by_name[ent.name]
        if cur and cur.file ~= file and by_file[cur.file] then
          ngx_log(ERR, "gavel: ", file, ": ruleset '",
                  ent.name, "' is already served from ", cur.file,
                  "; not loaded")
          failed[file] = hash
        else
          if old and old.name ~= ent.name and by_name[old.name]
              and by_name[old.name].file == file then
            by_name[old.name] = nil
          end
          by_name[ent.name] = ent
          by_file[file] = { hash = hash, name = ent.name }
          changed = changed + 1
          if old then reloads = reloads + 1 else loads = loads + 1 end
          ngx_log(NOTICE, "gavel: serving ", ent.tag, " (", ent.short,
                  ") from ", file)
        end
      end
    end
  end
  for file, f in pairs(by_file) do
    if not seen[file] then
      by_file[file], failed[file] = nil, nil
      local cur = by_name[f.name]
      if cur and cur.file == file then
        by_name[f.name] = nil
        changed = changed + 1
        ngx_log(WARN, "gavel: ", file, " removed; ruleset '", f.name,
                "' unloaded")
      end
    end
  end
  for file in pairs(failed) do
    if not seen[file] then failed[file] = nil end
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
  for _, e in pairs(by_name) do out[#out + 1] = e end
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

-- configure(opts): the init{} options this registry reads.
function _M.configure(opts)
  cfg = opts
end

_M.list = list

return _M
