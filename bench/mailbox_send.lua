-- wrk: POST one 10 KB message per request (the body is prepared by bench/mailbox.sh).
local f = assert(io.open(os.getenv("BK_MESSAGE_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BK_AUTHORITY_TOKEN")
