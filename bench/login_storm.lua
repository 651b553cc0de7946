-- wrk script: POST /login with a wrong password (a login storm), counting answers by status.
-- Each connection is a citizen: after a 503 it waits a second before trying again (the page
-- says to; Retry-After says 10 s), otherwise it sends at once. Without the pause, wrk would
-- answer every cheap 503 with the next request at once, a flood no group of people makes.
-- env: STORM_EMAIL. The CSRF token is a fixed 43-character value sent as cookie and field.
local csrf = "stormstormstormstormstormstormstormstorm123"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "bk_csrf=" .. csrf
wrk.body = "csrf=" .. csrf .. "&req=&email=" .. os.getenv("STORM_EMAIL"):gsub("@", "%%40") .. "&password=falsch"

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() counts = {}; last = 0 end
function response(status) counts[status] = (counts[status] or 0) + 1; last = status end
function delay() if last == 503 then return 1000 end return 0 end
function done()
  local all = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do all[status] = (all[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(all) do table.insert(parts, string.format('"%d":%d', status, n)) end
  io.write("STORM {" .. table.concat(parts, ",") .. "}\n")
end
