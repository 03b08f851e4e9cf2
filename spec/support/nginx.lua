-- spec/support/nginx.lua -- start a throw-away nginx (Debian's nginx +
-- lua-nginx-module) on 127.0.0.1 for integration specs, talk HTTP to it
-- with curl, stop it by pid.
--
--   local nginx = require "support.nginx"
--   local srv = nginx.start{ http = "...", server = "...",
--                            files = { ["rules/x.json"] = text },
--                            ports = 2, workers = 1 }
--   local status, body = srv:request("POST", "/run/x", '{"a":1}')
--   srv:stop()
--
-- Snippets may use {{port}}, {{port2}}... (free ports on 127.0.0.1, the
-- first is the main server's), {{prefix}} (the temp prefix, with a final
-- /) and {{repo}}.  The prefix comes from mktemp -d and is removed by
-- stop() unless GAVEL_KEEP_NGINX is set.  Lua paths: <repo>/lua, then
-- <build>/lib (GAVEL_BUILD_DIR, default "build").
-- Errors: everything raises (these are test fixtures).

local ffi = require "ffi"
local bit = require "bit"
local capi = require("gavel.core").capi
local now_ms = require("gavel").now_ms

local format, gsub = string.format, string.gsub

local M = {}

local NGINX = os.getenv("GAVEL_NGINX") or "nginx"
local MODULES = os.getenv("GAVEL_NGINX_MODULES") or "/usr/lib/nginx/modules"

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a")
  p:close()
  return out
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  assert(f:write(s))
  f:close()
end

-- write_atomic(path, s): a temporary file renamed over 'path', as a
-- deploy should write a ruleset the server may be reading
local function write_atomic(path, s)
  local tmp = path .. ".tmp"
  write(tmp, s)
  assert(os.rename(tmp, path))
end

-- for the specs: sh(cmd) -> its output, read(path) -> contents or nil,
-- write(path, s), write_atomic(path, s)
M.sh, M.read, M.write, M.write_atomic = sh, read, write, write_atomic

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function quote(s)
  return "'" .. gsub(s, "'", "'\\''") .. "'"
end

-- The checkout: two directories above this file.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local REPO = sh("cd " .. quote(here .. "/../..") .. " && pwd"):gsub("%s+$", "")
local BUILD = os.getenv("GAVEL_BUILD_DIR") or "build"
if BUILD:sub(1, 1) ~= "/" then BUILD = REPO .. "/" .. BUILD end
M.repo, M.build = REPO, BUILD

-- ==== Free ports: bind 127.0.0.1:0 and ask the kernel ====

local function cdef(decl)
  pcall(ffi.cdef, decl)   -- already declared (by another helper): fine
end
cdef [[ struct gavel_spec_sin { uint16_t family; uint16_t port;
                                uint32_t addr; uint8_t zero[8]; }; ]]
cdef "int socket(int domain, int type, int protocol);"
cdef "int bind(int fd, const void *addr, uint32_t len);"
cdef "int getsockname(int fd, void *addr, uint32_t *len);"
cdef "int close(int fd);"
local C = ffi.C

-- free_ports(n) -> n distinct ports nobody listens on (all bound at once,
-- then released, so they differ).
function M.free_ports(n)
  local fds, ports = {}, {}
  for i = 1, n do
    local fd = C.socket(2, 1, 0)            -- AF_INET, SOCK_STREAM
    assert(fd >= 0, "socket() failed")
    local sin = ffi.new("struct gavel_spec_sin")
    sin.family = 2
    sin.addr = ffi.abi("le") and 0x0100007f or 0x7f000001   -- 127.0.0.1
    assert(C.bind(fd, sin, ffi.sizeof(sin)) == 0, "bind() failed")
    local len = ffi.new("uint32_t[1]", ffi.sizeof(sin))
    assert(C.getsockname(fd, sin, len) == 0, "getsockname() failed")
    ports[i] = ffi.abi("be") and sin.port or
               bit.bor(bit.lshift(bit.band(sin.port, 0xff), 8),
                       bit.rshift(sin.port, 8))
    fds[i] = fd
  end
  for _, fd in ipairs(fds) do C.close(fd) end
  return ports
end

-- ==== The configuration ====

local CONF = [[
daemon off;
{{user}}
master_process {{master}};
worker_processes {{workers}};
pid logs/nginx.pid;
error_log logs/error.log warn;
load_module {{modules}}/ndk_http_module.so;
load_module {{modules}}/ngx_http_lua_module.so;

events { worker_connections 256; }

http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  lua_package_path "{{repo}}/lua/?.lua;{{build}}/lib/?.lua;;";
  lua_package_cpath "{{build}}/lib/?.so;;";
{{http}}
  server {
    listen 127.0.0.1:{{port}};
    location = /__ping { return 200 "pong"; }
{{server}}
  }
}
]]

local function expand(s, vars)
  return (gsub(s, "{{(%w+)}}", function(k)
    local v = vars[k]
    if v == nil then error("nginx.lua: no value for {{" .. k .. "}}", 0) end
    return tostring(v)
  end))
end

-- ==== A running server ====

local Server = {}
local server_mt = { __index = Server }

-- srv:url(path) -> "http://127.0.0.1:<port><path>"
function Server.url(self, path)
  return format("http://127.0.0.1:%d%s", self.port, path or "/")
end

-- The curl command for one request: the body comes from a file, the
-- answer goes to 'out', the status and curl's time_total are printed.
function Server.curl_cmd(self, method, path, body, out)
  local args = { "curl -s -m 10 -o", quote(out),
                 "-w '%{http_code} %{time_total}'" }
  if body then
    self.n_req = self.n_req + 1
    local f = format("%stmp/req%d.body", self.prefix, self.n_req)
    write(f, body)
    args[#args + 1] = "-H 'Content-Type: application/json' --data-binary @"
                      .. quote(f)
  end
  args[#args + 1] = "-X " .. method
  args[#args + 1] = quote(self:url(path))
  return table.concat(args, " ")
end

-- "200 0.201" -> 200, 201 (0, nil when curl failed)
local function status_ms(w)
  local code, secs = (w or ""):match("^(%d+) ([%d.]+)")
  return tonumber(code) or 0, secs and tonumber(secs) * 1000
end

-- srv:request(method, path[, body]) -> status (number), body, ms
-- (ms: curl's time_total, which leaves out curl's own start-up)
function Server.request(self, method, path, body)
  self.n_req = self.n_req + 1
  local out = format("%stmp/resp%d", self.prefix, self.n_req)
  local status, ms = status_ms(sh(self:curl_cmd(method, path, body, out)))
  return status, read(out) or "", ms
end

-- srv:parallel({ {method, path, body}, ... }) -> { {status, body, ms},
-- ... }, wall milliseconds from before the first curl starts to after the
-- last one ends (curls run as concurrent background processes; each costs
-- some 40 ms of start-up here, which 'ms' leaves out and the wall time
-- does not)
function Server.parallel(self, reqs)
  local cmds, outs = {}, {}
  for i, r in ipairs(reqs) do
    self.n_req = self.n_req + 1
    outs[i] = format("%stmp/resp%d", self.prefix, self.n_req)
    cmds[i] = self:curl_cmd(r[1], r[2], r[3], outs[i])
              .. " > " .. quote(outs[i] .. ".code") .. " &"
  end
  local t0 = now_ms()
  os.execute(table.concat(cmds, " ") .. " wait")
  local ms = now_ms() - t0
  local res = {}
  for i = 1, #reqs do
    local status, ms = status_ms(read(outs[i] .. ".code"))
    res[i] = { status, read(outs[i]) or "", ms }
  end
  return res, ms
end

-- srv:log([from]) -> error.log text (from byte offset 'from', 0-based)
function Server.log(self, from)
  return (read(self.prefix .. "logs/error.log") or ""):sub((from or 0) + 1)
end

-- srv:log_mark() -> the current size of error.log (for srv:log(mark))
function Server.log_mark(self)
  return #self:log()
end

-- srv:stop([signal]): kill by pid (SIGTERM, or e.g. "QUIT" for a graceful
-- nginx -s quit), wait for the pid file to vanish (not kill -0: an exited
-- nginx can linger as a zombie), remove the prefix.
function Server.stop(self, signal)
  if self.stopped then return end
  self.stopped = true
  local pidfile = self.prefix .. "logs/nginx.pid"
  local pid = tonumber(read(pidfile) or "")
  if pid then
    os.execute("kill " .. (signal and "-" .. signal .. " " or "") .. pid
               .. " 2>/dev/null")
    local t0 = now_ms()
    while exists(pidfile) and now_ms() - t0 < 5000 do capi.sleep_ms(2) end
    assert(not exists(pidfile), "nginx (pid " .. pid .. ") did not stop")
  end
  if not os.getenv("GAVEL_KEEP_NGINX") then
    os.execute("rm -rf " .. quote(self.prefix))
  end
end

-- start{ http = s, server = s, files = { relpath = text }, ports = n,
--        workers = n } -> server (port, ports, prefix): running and
-- answering /__ping.  workers > 1 runs a master process (stop() signals
-- it; the workers exit with it).
-- Started as root (CI, containers), nginx would run its workers as
-- 'nobody', who cannot read a checkout under a private directory (/root,
-- a mktemp -d clone): the workers keep the invoking user.  Without root
-- the directive is not written (nginx ignores it then anyway).
local AS_ROOT = sh("id -u"):match("^0%s*$") ~= nil

function M.start(opts)
  opts = opts or {}
  local prefix = sh("mktemp -d /tmp/gavel-nginx.XXXXXX"):gsub("%s+$", "")
  assert(prefix ~= "", "mktemp -d failed")
  prefix = prefix .. "/"
  -- workers run as 'nobody' when nginx starts as root (master process on)
  os.execute("chmod 755 " .. quote(prefix))
  os.execute("mkdir -p " .. quote(prefix .. "conf") .. " "
             .. quote(prefix .. "logs") .. " " .. quote(prefix .. "tmp"))
  local ports = M.free_ports(opts.ports or 1)
  local vars = { modules = MODULES, repo = REPO, build = BUILD,
                 prefix = prefix, port = ports[1],
                 master = (opts.workers or 1) > 1 and "on" or "off",
                 user = AS_ROOT and "user root;" or "",
                 workers = opts.workers or 1 }
  for i = 2, #ports do vars["port" .. i] = ports[i] end
  vars.http = expand(opts.http or "", vars)
  vars.server = expand(opts.server or "", vars)
  for rel, text in pairs(opts.files or {}) do
    local dir = (prefix .. rel):match("^(.*)/[^/]*$")
    os.execute("mkdir -p " .. quote(dir))
    write(prefix .. rel, expand(text, vars))
  end
  write(prefix .. "conf/nginx.conf", expand(CONF, vars))
  local srv = setmetatable({ prefix = prefix, port = ports[1], ports = ports,
                             n_req = 0 }, server_mt)
  os.execute(format("%s -p %s -c conf/nginx.conf -e logs/error.log "
                    .. "> %s 2>&1 &", NGINX, quote(prefix),
                    quote(prefix .. "logs/stdout.log")))
  local pidfile, t0 = prefix .. "logs/nginx.pid", now_ms()
  while not exists(pidfile) do
    local log = srv:log()
    if log:find("[emerg]", 1, true) or now_ms() - t0 > 5000 then
      srv.stopped = true
      error("nginx did not start (prefix " .. prefix .. "):\n" .. log
            .. (read(prefix .. "logs/stdout.log") or ""), 2)
    end
    capi.sleep_ms(2)
  end
  -- The pid file appears once the listening socket is bound; /__ping
  -- answers once init_worker_by_lua has run and the event loop is up.
  while true do
    local status = srv:request("GET", "/__ping")
    if status == 200 then break end
    if now_ms() - t0 > 5000 then
      local log = srv:log()
      srv:stop()
      error("nginx does not answer /__ping:\n" .. log, 2)
    end
    capi.sleep_ms(5)
  end
  return srv
end

return M
