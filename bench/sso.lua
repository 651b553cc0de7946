-- wrk script: the SSO round trip of a portal whose citizen is already logged in:
-- GET /authorize (session cookie) -> 303 to the redirect URI with a code -> POST /token.
-- Each connection alternates the two requests. env:
--   SSO_AUTHORIZE  path+query of the authorization request (with PKCE S256 challenge)
--   SSO_COOKIE     Cookie header of the logged-in browser
--   SSO_BASIC      base64(client_id:client_secret)
--   SSO_REDIRECT   the redirect URI (the code is read from the Location header)
--   SSO_VERIFIER   the PKCE verifier
local authorize = os.getenv("SSO_AUTHORIZE")
local cookie = os.getenv("SSO_COOKIE")
local basic = os.getenv("SSO_BASIC")
local redirect = os.getenv("SSO_REDIRECT")
local verifier = os.getenv("SSO_VERIFIER")
local codes = {}
local rounds = 0

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

request = function()
  local code = table.remove(codes)
  if code then
    local body = "grant_type=authorization_code&code=" .. urlencode(code) .. "&redirect_uri=" .. urlencode(redirect) .. "&code_verifier=" .. verifier
    return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "Basic " .. basic}, body)
  end
  return wrk.format("GET", authorize, {["Cookie"] = cookie}, nil)
end

response = function(status, headers, body)
  local loc = headers["Location"] or headers["location"]
  if loc then
    local code = loc:match("[?&]code=([^&]+)")
    if code then table.insert(codes, (code:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))) end
  elseif status == 200 then
    rounds = rounds + 1
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
