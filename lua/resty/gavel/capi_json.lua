-- resty/gavel/capi_json.lua -- the FFI face of the engine's JSON API
-- (gavel_exec_run_json / _resume_json / _resume_error) for rs:run_json,
-- which has it drive the run with JSON text in and out.  No ngx needed.
-- (These declarations belong with gavel/core.lua's; they are here until
-- the binding exposes the JSON result itself.)
-- Returns false when the C symbols cannot be reached (the gavel CLI's
-- embedded module): rs:run_json then goes through tables.

local ffi = require "ffi"

local ok = pcall(ffi.cdef, [[
typedef struct gavel_exec gavel_exec;
int gavel_exec_run_json(gavel_exec *ex, const char *input, size_t input_len,
                        unsigned flags, const char **out, size_t *out_len,
                        gavel_error *err);
int gavel_exec_resume_json(gavel_exec *ex, const char *payload,
                           size_t payload_len, const char *metadata,
                           size_t metadata_len, const char **out,
                           size_t *out_len, gavel_error *err);
int gavel_exec_resume_error(gavel_exec *ex, const char *message,
                            const char **out, size_t *out_len,
                            gavel_error *err);
]])
if not ok and not pcall(ffi.typeof, "gavel_exec") then return false end

-- the library that holds gavel.capi (dlopen returns require's handle)
local path = package.searchpath("gavel.capi", package.cpath)
local lib = path and ffi.load(path) or ffi.C
if not pcall(function() return lib.gavel_exec_run_json end) then
  return false
end

return {
  C = lib,
  out = ffi.new("const char *[1]"),
  len = ffi.new("size_t[1]"),
  err = ffi.new("gavel_error"),
  -- the execution context's gavel_exec: the first member of lgavel.c's
  -- gavel_lua_exec (the userdata's payload)
  exp = ffi.typeof("gavel_exec *const *"),
  ccp = ffi.typeof("const char *"),
  cast = ffi.cast,
  str = ffi.string,
}
